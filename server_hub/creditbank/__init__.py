"""The credit bank on top of the ledger: exchange of credits for services (points),
verifiable transcripts, xAPI export and the integrity review queue with its audit log.

    tables.py     its tables (schema migration 4), on their own MetaData
    exchange.py   pure rules: price checks, credit/point conversion, redemption decisions
    bank.py       the store adapter: catalogue, rate, redemptions, reversals (locked per learner),
                  point expiry, a service counter's redemptions
    rewards.py    administrator reward points as an account: settled per month, spent, adjusted
    audit.py      the audit log every decision writes to
    reviews.py    the integrity review queue: decisions reach the ledger exactly once
    transcript.py signed transcripts (Open Badges 3.0 / W3C VC shape), offline verification
    issuer.py     the hub's Ed25519 issuer key (created on init, mode 0600)
    xapi.py       xAPI-style statements of activity records
    learnerauth.py  the learner portal's PINs (scrypt), sign-in with lockouts, sessions
    learnerview.py  what a signed-in learner sees of their own account
    applications.py account opening by self-application, decided by staff
"""
