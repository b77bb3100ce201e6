"""Helpers of FATE's pipeline scripts (:func:`~fedloom.pipeline.utils.tools.load_job_config`)."""
