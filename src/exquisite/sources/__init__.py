"""Readers of the world: OpenStreetMap, population, GTFS."""
