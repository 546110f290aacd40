"""The batch engine: admission, persistence of every slide's state, events, resume after a crash."""
