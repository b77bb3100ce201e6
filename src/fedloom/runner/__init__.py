"""Running parties: the local launcher (one OS process per party) and, later, the job runner."""
