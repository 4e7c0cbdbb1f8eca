"""Media tests (a package so that tests can share the loopback phone of test_relay)."""
