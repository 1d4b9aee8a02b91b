"""Community co-governance: residents' reports, staff workflow and the Open311 GeoReport v2 service."""
