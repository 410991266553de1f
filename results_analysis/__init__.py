"""Leaderboards, model selection, plots and representation scoring over sweep results."""
