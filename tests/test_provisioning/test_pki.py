"""The fleet CA and ACL rendering, without a broker."""

import stat

import pytest
from cryptography import x509

from server_hub.identity import acl, pki


@pytest.fixture
def ca(tmp_path):
    return pki.FleetCA.create(tmp_path / "ca")


def csr_for(name):
    key = pki.new_private_key()
    return key, pki.make_csr(key, name)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_the_ca_is_created_once_with_private_files(ca, tmp_path):
    assert mode(ca.directory) == 0o700
    assert mode(ca.directory / "ca.key") == 0o600
    assert mode(ca.directory / "index.json") == 0o600
    with pytest.raises(pki.PKIError, match="already exists"):
        pki.FleetCA.create(ca.directory)
    again = pki.FleetCA.open_or_create(ca.directory)
    assert again.cert == ca.cert


def test_opening_a_missing_ca_says_where_it_comes_from(tmp_path):
    with pytest.raises(pki.PKIError, match="hub creates it on first run"):
        pki.FleetCA.open(tmp_path / "nowhere")


def test_a_station_certificate_is_a_client_cert_with_cn_station_id(ca):
    key, csr = csr_for("S-0001")
    cert = x509.load_pem_x509_certificate(ca.sign_station_csr(csr, "S-0001"))
    assert pki.common_name(cert) == "S-0001"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(ca.cert)
    assert ca.verify(cert.public_bytes(pki.serialization.Encoding.PEM)) == cert


@pytest.mark.parametrize("bad", ["", "S 1", "S/1", "S+1", "#", "x" * 33, "S-1\n", "tapcert.hub"])
def test_invalid_station_ids_are_refused(ca, bad):
    _, csr = csr_for(bad or "x")
    with pytest.raises(pki.PKIError, match="not valid"):
        ca.sign_station_csr(csr, bad)


def test_a_csr_for_another_name_or_garbage_is_refused(ca):
    _, csr = csr_for("S-0002")
    with pytest.raises(pki.PKIError, match="is for 'S-0002'"):
        ca.sign_station_csr(csr, "S-0001")
    with pytest.raises(pki.PKIError, match="not a PEM CSR"):
        ca.sign_station_csr(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", "S-0001")
    assert ca.issued() == []


def test_revocation_lands_in_the_crl_and_resigning_supersedes(ca):
    _, csr = csr_for("S-0001")
    first = x509.load_pem_x509_certificate(ca.sign_station_csr(csr, "S-0001"))
    _, csr2 = csr_for("S-0001")
    second = x509.load_pem_x509_certificate(ca.sign_station_csr(csr2, "S-0001"))
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert crl.is_signature_valid(ca.key.public_key())
    assert crl.get_revoked_certificate_by_serial_number(first.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(second.serial_number) is None
    assert ca.revoke_station("S-0001", "lost") == [second.serial_number]
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(second.serial_number) is not None
    with pytest.raises(pki.PKIError, match="revoked"):
        ca.verify(second.public_bytes(pki.serialization.Encoding.PEM))
    with pytest.raises(pki.PKIError, match="no live certificate"):
        ca.revoke_station("S-0001")


def test_a_certificate_from_another_ca_does_not_verify(ca, tmp_path):
    other = pki.FleetCA.create(tmp_path / "other")
    _, csr = csr_for("S-0001")
    with pytest.raises(pki.PKIError, match="not issued by this fleet CA"):
        ca.verify(other.sign_station_csr(csr, "S-0001"))


def test_service_names_cannot_collide_with_station_ids(ca):
    with pytest.raises(pki.PKIError, match="joined by dots"):
        ca.issue_service("hub")
    key_pem, cert_pem = ca.issue_service("tapcert.hub")
    assert mode(ca.directory / "tapcert.hub.key") == 0o600
    assert pki.common_name(x509.load_pem_x509_certificate(cert_pem)) == "tapcert.hub"


def test_the_server_certificate_names_its_addresses(ca):
    _, cert_path = ca.issue_server(hostnames=["broker.example"], ips=["127.0.0.1"])
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["broker.example"]
    assert [str(i) for i in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_the_acl_confines_stations_and_names_the_hub():
    text = acl.render_acl(["tapcert.hub", "tapcert.hub-2"])
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == ["user tapcert.hub", "topic readwrite station/#",
                     "user tapcert.hub-2", "topic readwrite station/#",
                     "pattern readwrite station/%u/#"]
    with pytest.raises(pki.PKIError):
        acl.render_acl(["S-0001"])
