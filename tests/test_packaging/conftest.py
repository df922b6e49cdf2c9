"""tests/test_packaging: the wheel and ops/ (wheelcheck.py is also a script: .ci/run runs it)."""


