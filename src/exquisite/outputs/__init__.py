"""What a run leaves behind: the run folder and its manifest."""
