"""Runs user workflow code against a journal: context, replay cursor, suspension."""
