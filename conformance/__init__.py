"""The Anymail conformance suite: one set of tests run against every installed ESP."""
