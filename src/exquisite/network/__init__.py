"""The walking network: building it from ways, snapping points onto it, inserting them as nodes."""
