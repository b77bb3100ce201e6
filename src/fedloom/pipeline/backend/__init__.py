"""The pipeline itself (:class:`~fedloom.pipeline.backend.pipeline.PipeLine`) and its constants."""
