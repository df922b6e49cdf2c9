"""The test NATS cluster survives a port taken between choosing it and binding it.

A CI run (2026-12-07 23:18Z) lost a test to this: node n2's route port, free when the cluster
chose it, was bound by something else a moment later; n2 exited ("bind: address already in
use") and the harness waited a minute for its MQTT port. start() now sees the exit, chooses
fresh ports and starts the cluster again."""

import socket

from hil_tests.cluster import NATSCluster


def test_a_route_port_taken_before_the_node_binds_it_is_chosen_again(tmp_path):
    cluster = NATSCluster(tmp_path / "nats")
    taken = cluster.route_ports[1]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen(1)
        try:
            cluster.start()
            assert taken not in cluster.route_ports
            assert all(cluster.alive(i) for i in range(len(cluster.names)))
            assert cluster.meta_leader()
            assert "address already in use" in cluster.log_path(1).read_text()
        finally:
            cluster.stop()
