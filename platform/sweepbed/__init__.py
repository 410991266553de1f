"""sweepbed: the sweep engine (spaces, planning, the shared loop, runners, tracking, results)."""
