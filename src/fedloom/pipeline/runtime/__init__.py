"""Job-level settings of a pipeline run (:class:`~fedloom.pipeline.runtime.entity.JobParameters`)."""
