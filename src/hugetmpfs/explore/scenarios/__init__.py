"""The built-in race scenarios, one per race of the digests."""
