"""Runtime code of the social security card service (deployed to Lambda)."""
