"""Teams: named client keys, their limits, and where the limits are counted (docs/teams.md)."""
