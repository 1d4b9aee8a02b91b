"""The web app: the planners' dashboard, the residents' service finder and the JSON API, over run folders."""
