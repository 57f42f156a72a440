"""Race exploration: scenarios, the exploration driver, shrinking, replay and findings."""
