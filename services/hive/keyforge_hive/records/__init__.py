"""Records across jobs: history, exports, leaderboards per scoring model, contributors."""
