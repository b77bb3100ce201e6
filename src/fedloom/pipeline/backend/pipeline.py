"""``PipeLine``: build a job in Python, run it, deploy it and predict with it (FATE 1.x's API).

A FATE pipeline script runs with its imports changed from ``pipeline...`` to
``fedloom.pipeline...``::

    pipeline = PipeLine().set_initiator(role="guest", party_id=9999).set_roles(
        guest=9999, host=10000, arbiter=10000)
    reader_0 = Reader(name="reader_0")
    reader_0.get_party_instance(role="guest", party_id=9999).component_param(table=guest_table)
    ...
    pipeline.add_component(reader_0)
    pipeline.add_component(data_transform_0, data=Data(data=reader_0.output.data))
    pipeline.add_component(hetero_lr_0, data=Data(train_data=intersection_0.output.data))
    pipeline.compile()          # DSL v2 dsl + conf, checked by fedloom's DSL loader
    pipeline.fit()              # the configured job server, else this machine (one process per party)
    pipeline.deploy_component([data_transform_0, intersection_0, hetero_lr_0])

    predict_pipeline = PipeLine()
    predict_pipeline.add_component(reader_1)
    predict_pipeline.add_component(pipeline, data=Data(predict_input={
        pipeline.data_transform_0.input.data: reader_1.output.data}))
    predict_pipeline.predict()

How it works:

- ``compile`` writes FATE's DSL v2: each component's ``module``, its ``input`` (``Data`` slots under
  ``input.data``, ``Model`` under ``input.model`` / ``input.isometric_model``, ``Cache`` under
  ``input.cache``) and ``output``; and the conf: ``initiator``, ``role``,
  ``job_parameters.common.job_type`` and every component's common and per-party parameters. Then
  :func:`fedloom.dsl.load_job` checks the pair as ``fedloom run`` would (errors name the
  component and field).
- ``fit`` runs the job: submitted to the job server when one is configured (``fedloom init``,
  :meth:`fedloom.server.client.FlowClient.from_config`), else on this machine with the local
  launcher (:func:`fedloom.runner.local.run_job`); FATE's progress lines are printed while it waits;
  a failure raises :class:`~fedloom.core.errors.PartyFailedError` naming the party, component and
  reason.
- ``deploy_component`` derives the predict DSL of the chosen components
  (:func:`fedloom.dsl.derive_predict_dsl`: each loads its trained model, learners read
  ``test_data``, readers are left for the predict pipeline to add) and, on a server, deploys the
  model there.
- A predict pipeline is a new ``PipeLine`` given readers and the deployed pipeline; its DSL is the
  deployed DSL plus its own components, with ``predict_input`` wiring their outputs into the
  deployed components' inputs. ``predict`` runs it where the model was trained, with
  ``job_type: predict`` and the trained job as ``model_version``.
- ``dump`` writes the pipeline as JSON (never pickle: loading a pipeline runs no code):
  components by class and parameters, roles, the DSL and conf, the jobs run and the deployment.
  ``load_model_from_file`` reads it back, ready to deploy or to feed a predict pipeline.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

from fedloom.core.errors import ConfigError
from fedloom.pipeline.backend.config import VERSION, JobStatus, Role, StatusCode
from fedloom.pipeline.backend.executor import (
    SERVER,
    Executor,
    JobRef,
    LocalExecutor,
    ServerExecutor,
    configured_client,
    default_stream,
    executor_for,
)
from fedloom.pipeline.backend.task_info import TaskInfo
from fedloom.pipeline.component import Component, Reader, component_class
from fedloom.pipeline.interface import Cache, Data, Model
from fedloom.pipeline.runtime.entity import JobParameters
from fedloom.pipeline.utils.tools import merge_dict
from fedloom.server.client import FlowClient

__all__ = ["FORMAT", "PipeLine"]

log = logging.getLogger(__name__)

#: The ``format`` of a dumped pipeline (bumped when its layout changes).
FORMAT = "fedloom.pipeline/1"
#: Keyword arguments of FATE 1.5's ``fit``/``predict`` with no meaning now (accepted, ignored).
_LEGACY_RUN_ARGS = frozenset({"backend", "work_mode"})
_STDERR = object()


class PipeLine:
    """A federated job built component by component.

    Parameters
    ----------
    data_dir, job_dir
        Table store and jobs folder of jobs run on this machine (default ``$FEDLOOM_DATA_DIR`` /
        ``$FEDLOOM_JOBS_DIR``, else under ``~/.fedloom``).
    client
        The job server to use (default: the configured one, if any, looked up when a job starts).
    progress
        Stream for the progress lines (default stderr; ``None``: quiet).
    """

    def __init__(
        self,
        *,
        data_dir: str | Path | None = None,
        job_dir: str | Path | None = None,
        client: FlowClient | None = None,
        progress: IO[str] | object | None = _STDERR,
    ) -> None:
        self._create_time = time.asctime(time.localtime(time.time()))
        self._initiator: SimpleNamespace | None = None
        self._roles: dict[str, list[Any]] = {}
        self._components: dict[str, Component] = {}
        self._components_input: dict[str, dict[str, Any]] = {}
        self._train_dsl: dict[str, Any] = {}
        self._predict_dsl: dict[str, Any] = {}
        self._train_conf: dict[str, Any] = {}
        self._predict_conf: dict[str, Any] = {}
        self._upload_conf: list[dict[str, Any]] = []
        self._cur_state: str | None = None
        self._train_job: JobRef | None = None
        self._predict_job: JobRef | None = None
        self._fit_status: int | None = None
        self._model_info: SimpleNamespace | None = None
        self._predict_model_info: SimpleNamespace | None = None
        self._stage = "fit"
        self._predict_pipeline: list[dict[str, Any]] = []
        self._deploy = False
        self._deployed: list[str] = []
        self._load = False
        self._data_dir = data_dir
        self._job_dir = job_dir
        self._client = client
        self._progress = progress

    # -- roles -------------------------------------------------------------------------------------
    def set_initiator(self, role: str, party_id: int | str) -> PipeLine:
        """The party that starts the job (FATE: the guest)."""
        if role not in Role.support_roles():
            raise ConfigError(f"initiator role must be one of {Role.support_roles()}. Got {role!r}.",
                              field="initiator.role")  # fmt: skip
        self._initiator = SimpleNamespace(role=role, party_id=party_id)
        return self

    def set_roles(
        self,
        guest: int | list[int] | None = None,
        host: int | list[int] | None = None,
        arbiter: int | list[int] | None = None,
        **kwargs: Any,
    ) -> PipeLine:
        """The parties of each role: one party id or a list of them."""
        if kwargs:
            raise ConfigError(
                f"unknown role(s) {sorted(kwargs)}; roles are {Role.support_roles()}.", field="role"
            )
        for role, ids in (("guest", guest), ("host", host), ("arbiter", arbiter)):
            if ids is None or ids == []:
                continue
            listed = ids if isinstance(ids, list) else [ids]
            for pid in listed:
                if isinstance(pid, bool) or not isinstance(pid, int | str):
                    raise ConfigError(f"{role}'s party id must be an integer or a list of them. Got {pid!r}.",
                                      field=f"role.{role}")  # fmt: skip
            self._roles[role] = list(listed)
        return self

    def restore_roles(self, initiator: SimpleNamespace | None, roles: Mapping[str, list[Any]]) -> None:
        self._initiator = copy.copy(initiator)
        self._roles = copy.deepcopy(dict(roles))

    # -- building ----------------------------------------------------------------------------------
    def add_component(
        self,
        component: Component | PipeLine,
        data: Data | None = None,
        model: Model | None = None,
        cache: Cache | None = None,
    ) -> PipeLine:
        """Add a component with its inputs; or a deployed pipeline, which makes this a predict
        pipeline (``data=Data(predict_input={deployed input: new data})``).

        Raises
        ------
        ConfigError
            A name added twice, inputs of the wrong type, or a pipeline that is not deployed.
        """
        if isinstance(component, PipeLine):
            return self._add_pipeline(component, data, model)
        if not isinstance(component, Component):
            raise ConfigError(f"add_component takes a Component or a deployed PipeLine. Got {component!r}.",
                              field="component")  # fmt: skip
        name = component.name
        if name in self._components:
            raise ConfigError(f"component {name} is already in the pipeline.", component=name, field="name")
        inputs: dict[str, Any] = {}
        if data is not None:
            if not isinstance(data, Data):
                raise ConfigError(f"the data input of {name} must be a Data(...). Got {data!r}.",
                                  component=name, field="data")  # fmt: skip
            if data.predict_input is not None:
                raise ConfigError(f"predict_input is for adding a deployed pipeline, not component {name}.",
                                  component=name, field="data.predict_input")  # fmt: skip
            if data.slots():
                inputs["data"] = data.slots()
        if model is not None:
            if not isinstance(model, Model):
                raise ConfigError(f"the model input of {name} must be a Model(...). Got {model!r}.",
                                  component=name, field="model")  # fmt: skip
            inputs.update(model.slots())
        if cache is not None:
            if not isinstance(cache, Cache):
                raise ConfigError(f"the cache input of {name} must be a Cache(...). Got {cache!r}.",
                                  component=name, field="cache")  # fmt: skip
            inputs["cache"] = cache.refs()
        self._components[name] = component
        if inputs:
            self._components_input[name] = inputs
        return self

    def _add_pipeline(self, trained: PipeLine, data: Data | None, model: Model | None) -> PipeLine:
        if not trained.is_deploy():
            raise ConfigError("to use a trained pipeline in a predict pipeline, deploy its components first "
                              "(deploy_component).", field="component")  # fmt: skip
        if model is not None:
            raise ConfigError("a deployed pipeline takes no model input: it brings its own.", field="model")
        if data is None or not data.predict_input:
            raise ConfigError("a deployed pipeline needs data=Data(predict_input={<its input>: <new data>}).",
                              field="data.predict_input")  # fmt: skip
        if self._predict_pipeline:
            raise ConfigError("a predict pipeline takes one deployed pipeline.", field="component")
        self._stage = "predict"
        self._predict_pipeline.append({"pipeline": trained, "data": dict(data.predict_input)})
        meta = trained.get_predict_meta()
        self.restore_roles(meta["initiator"], meta["roles"])
        return self

    def add_upload_data(
        self,
        file: str | Path,
        table_name: str,
        namespace: str,
        head: int = 1,
        partition: int = 16,
        id_delimiter: str = ",",
        extend_sid: bool = False,
        auto_increasing_sid: bool = False,
        **kwargs: Any,
    ) -> None:
        """Queue a table upload (FATE's upload conf); :meth:`upload` performs it."""
        self._upload_conf.append({"file": str(file), "table_name": table_name, "namespace": namespace,
                                  "head": head, "partition": partition, "id_delimiter": id_delimiter,
                                  "extend_sid": extend_sid, "auto_increasing_sid": auto_increasing_sid,
                                  **kwargs})  # fmt: skip

    def upload(self, drop: int | bool = 0) -> list[dict[str, Any]]:
        """Upload the queued tables to the server's store (it reads each file), else to this
        machine's; ``drop`` replaces existing tables. Returns each upload's answer."""
        executor = self._executor()
        out = [executor.upload(copy.deepcopy(conf), bool(drop)) for conf in self._upload_conf]
        for conf in self._upload_conf:
            self._say(f"Uploaded {conf['namespace']}.{conf['table_name']} from {conf['file']}")
        return out

    # -- getters (FATE's) --------------------------------------------------------------------------
    def get_component_list(self) -> list[str]:
        return list(self._components)

    def get_train_dsl(self) -> dict[str, Any]:
        return copy.deepcopy(self._train_dsl)

    def get_train_conf(self) -> dict[str, Any]:
        return copy.deepcopy(self._train_conf)

    def get_predict_dsl(self) -> dict[str, Any]:
        return copy.deepcopy(self._predict_dsl)

    def get_predict_conf(self) -> dict[str, Any]:
        return copy.deepcopy(self._predict_conf)

    def get_upload_conf(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._upload_conf)

    def get_model_info(self) -> SimpleNamespace | None:
        return copy.deepcopy(self._model_info)

    def get_predict_model_info(self) -> SimpleNamespace | None:
        return copy.deepcopy(self._predict_model_info)

    def get_train_job_id(self) -> str | None:
        return None if self._train_job is None else self._train_job.job_id

    def get_predict_job_id(self) -> str | None:
        return None if self._predict_job is None else self._predict_job.job_id

    def get_train_job(self) -> JobRef | None:
        """The training job (backend, id, folder, model id and version)."""
        return copy.deepcopy(self._train_job)

    def get_predict_job(self) -> JobRef | None:
        return copy.deepcopy(self._predict_job)

    def is_deploy(self) -> bool:
        return self._deploy

    def is_load(self) -> bool:
        return self._load

    def get_predict_meta(self) -> dict[str, Any]:
        """What a predict pipeline takes from this deployed one.

        Raises
        ------
        ConfigError
            The pipeline has not been fitted successfully.
        """
        if self._fit_status != StatusCode.SUCCESS or self._train_job is None:
            raise ConfigError("fit the pipeline successfully before predicting with it.", field="stage")
        return {
            "predict_dsl": self._predict_dsl,
            "train_conf": self._train_conf,
            "initiator": self._initiator,
            "roles": self._roles,
            "model_info": self._model_info,
            "components": self._components,
            "stage": self._stage,
            "train_job": self._train_job,
        }

    # -- compile -----------------------------------------------------------------------------------
    def _initiator_conf(self) -> dict[str, Any]:
        if self._initiator is None:
            raise ConfigError("set the initiator first: PipeLine().set_initiator(role=..., party_id=...).",
                              field="initiator")  # fmt: skip
        return {"role": self._initiator.role, "party_id": self._initiator.party_id}

    def _initiator_party(self) -> str:
        conf = self._initiator_conf()
        return f"{conf['role']}:{conf['party_id']}"

    def _cache_sources(self) -> set[str]:
        refs = {
            r.split(".")[0] for inputs in self._components_input.values() for r in inputs.get("cache", [])
        }
        return refs

    def _outputs(self, component: Component, cache_used: set[str]) -> dict[str, list[str]]:
        """The outputs a component declares: its module's data and model outputs, and ``cache``
        when the module only outputs a cache, another component reads it, or ``run_cache`` is set."""
        kinds = component.spec.outputs
        out: dict[str, list[str]] = {kind: [kind] for kind in ("data", "model") if kind in kinds}
        if "cache" in kinds:
            run_cache = bool(component.get_common_param_conf().get("run_cache")) or any(
                inst.get_component_param().get("run_cache")
                for parties in component._party.values()
                for inst in parties.values()
            )
            if not out or component.name in cache_used or run_cache:
                out["cache"] = ["cache"]
        return out

    def _construct_train_dsl(self) -> dict[str, Any]:
        if not self._components:
            raise ConfigError("the pipeline has no components: add_component first.", field="components")
        cache_used = self._cache_sources()
        components: dict[str, Any] = {}
        for name, component in self._components.items():
            body: dict[str, Any] = {"module": component.module}
            if name in self._components_input:
                body["input"] = copy.deepcopy(self._components_input[name])
            body["output"] = self._outputs(component, cache_used)
            components[name] = body
        self._train_dsl = {"components": components}
        return self._train_dsl

    def _construct_train_conf(self) -> dict[str, Any]:
        conf: dict[str, Any] = {
            "dsl_version": VERSION,
            "initiator": self._initiator_conf(),
            "role": copy.deepcopy(self._roles),
            "job_parameters": {"common": {"job_type": "train"}},
        }
        params: dict[str, Any] = {}
        for component in self._components.values():
            part = component.get_config(roles=self._roles)
            if "common" in part:
                params.setdefault("common", {}).update(part["common"])
            if "role" in part:
                params["role"] = merge_dict(params.get("role", {}), part["role"])
        if params:
            conf["component_parameters"] = params
        self._train_conf = conf
        return conf

    def compile(self) -> PipeLine:
        """Write the DSL and conf and check them with fedloom's DSL loader.

        Raises
        ------
        ConfigError
            Every problem the loader finds (unknown parameter, missing input, a cycle ...), naming
            the component and field.
        """
        from fedloom.components import registry
        from fedloom.dsl import load_job

        self._construct_train_dsl()
        self._construct_train_conf()
        if self._stage == "predict":
            self._merge_predict_dsl()
            conf = self._feed_job_parameters(self._train_conf, "predict", self._model_info, None)
            load_job(conf, self._predict_dsl, registry())
        else:
            load_job(self._train_conf, self._train_dsl, registry())
        return self

    def _merge_predict_dsl(self) -> None:
        entry = self._predict_pipeline[0]
        meta = entry["pipeline"].get_predict_meta()
        if meta["stage"] == "predict":
            raise ConfigError("a predict pipeline cannot feed another predict pipeline.", field="component")
        deployed = meta["predict_dsl"]
        if not deployed:
            raise ConfigError("the pipeline added has no deployed components: call deploy_component first.",
                              field="component")  # fmt: skip
        for name in self._train_dsl["components"]:
            if name in deployed["components"]:
                raise ConfigError(f"component {name} is also a deployed component of the trained pipeline; "
                                  "give it another name.", component=name, field="name")  # fmt: skip
        self._model_info = copy.deepcopy(meta["model_info"])
        dsl = merge_dict(copy.deepcopy(deployed), self._train_dsl)
        for target, source in entry["data"].items():
            cpn, _, slot = str(target).partition(".")
            if cpn not in dsl["components"] or not slot:
                raise ConfigError(
                    f"predict_input names {target!r}, not an input of a deployed component "
                    f"({', '.join(deployed['components'])}).",
                    component=cpn or None,
                    field="data.predict_input",
                )
            refs = source if isinstance(source, list) else [source]
            body = dsl["components"][cpn]
            body.setdefault("input", {}).setdefault("data", {})[slot] = [str(r) for r in refs]
            # keep inputs in DSL order: data before model
            body["input"] = {k: body["input"][k] for k in ("data", "model", "isometric_model", "cache")
                             if k in body["input"]}  # fmt: skip
        self._predict_dsl = dsl

    def _feed_job_parameters(
        self,
        conf: Mapping[str, Any],
        job_type: str,
        model_info: SimpleNamespace | None,
        job_parameters: JobParameters | None,
    ) -> dict[str, Any]:
        out = copy.deepcopy(dict(conf))
        if job_parameters is not None:
            out["job_parameters"] = job_parameters.get_config(roles=self._roles)
        out.setdefault("job_parameters", {}).setdefault("common", {})["job_type"] = job_type
        if model_info is not None:
            out["job_parameters"]["common"]["model_id"] = model_info.model_id
            out["job_parameters"]["common"]["model_version"] = model_info.model_version
        return out

    # -- running -----------------------------------------------------------------------------------
    def _stream(self) -> IO[str] | None:
        if self._progress is _STDERR:
            return default_stream()
        return self._progress  # type: ignore[return-value]

    def _say(self, line: str) -> None:
        stream = self._stream()
        if stream is not None:
            stream.write(line + "\n")
            stream.flush()

    def _executor(self) -> Executor:
        return executor_for(self._client, self._data_dir, self._job_dir, self._stream())

    def _executor_for_job(self, job: JobRef) -> Executor:
        """Where a job that uses ``job``'s models runs: where ``job`` ran."""
        if job.backend == SERVER:
            client = configured_client(self._client)
            if client is None:
                raise ConfigError(f"the model was trained on the job server {job.url} (job {job.job_id}); "
                                  "configure it (fedloom init) to predict there.",
                                  field="model_version")  # fmt: skip
            return ServerExecutor(client, self._stream())
        return LocalExecutor(self._data_dir, self._job_dir, self._stream())

    @staticmethod
    def _check_run_args(job_parameters: JobParameters | None, legacy: Mapping[str, Any]) -> None:
        unknown = set(legacy) - _LEGACY_RUN_ARGS
        if unknown:
            raise ConfigError(f"unexpected argument(s) {sorted(unknown)}.", field=sorted(unknown)[0])
        if job_parameters is not None and not isinstance(job_parameters, JobParameters):
            raise ConfigError(f"job_parameters must be a JobParameters. Got {job_parameters!r}.",
                              field="job_parameters")  # fmt: skip

    def fit(
        self, job_parameters: JobParameters | None = None, callback_func: Any = None, **legacy: Any
    ) -> None:
        """Run the training job and wait for it (see the module docs).

        Raises
        ------
        ConfigError
            The job is invalid (nothing ran), or this is a predict pipeline.
        PartyFailedError
            A party failed: the message names the party, the component and the reason.
        """
        if self._stage == "predict":
            raise ConfigError("this pipeline is built for predicting (it holds a deployed pipeline); "
                              "call predict().", field="stage")  # fmt: skip
        self._check_run_args(job_parameters, legacy)
        if self._fit_status == StatusCode.SUCCESS:
            raise ConfigError(
                "this pipeline was fitted already; build a new one to train again.", field="stage"
            )
        self.compile()
        self._cur_state = "fit"
        conf = self._feed_job_parameters(self._train_conf, "train", None, job_parameters)
        self._train_conf = conf
        self._fit_status = StatusCode.FAIL
        job = self._executor().run(conf, self._train_dsl, self._initiator_party())
        self._train_job = job
        self._fit_status = StatusCode.SUCCESS
        self._model_info = SimpleNamespace(model_id=job.model_id, model_version=job.model_version)
        if callback_func is not None:
            callback_func({"retcode": 0, "retmsg": "success", "jobId": job.job_id,
                           "data": {"job_id": job.job_id, "model_info": vars(self._model_info)}})  # fmt: skip

    def deploy_component(self, components: list[Component | str] | None = None) -> PipeLine:
        """Choose the components a predict job runs (default: every one but readers and
        evaluation) and derive their predict DSL; on a server, deploy the model there too.

        Raises
        ------
        ConfigError
            Not fitted; an unknown component; a ``Reader`` (a predict pipeline brings its own).
        """
        from fedloom.dsl import derive_predict_dsl

        if self._fit_status != StatusCode.SUCCESS or self._train_job is None:
            raise ConfigError("fit the pipeline successfully before deploying it.", field="stage")
        if components is None:
            names = [n for n, c in self._components.items() if c.module not in ("Reader", "Evaluation")]
        else:
            names = []
            for cpn in components:
                name = cpn.name if isinstance(cpn, Component) else cpn
                if not isinstance(name, str):
                    raise ConfigError(f"deploy_component takes components or names. Got {cpn!r}.",
                                      field="components")  # fmt: skip
                if name not in self._components:
                    raise ConfigError(
                        f"component {name} is not in the pipeline.", component=name, field="components"
                    )
                if isinstance(self._components[name], Reader):
                    raise ConfigError("a Reader is not deployed: the predict pipeline adds its own readers.",
                                      component=name, field="components")  # fmt: skip
                names.append(name)
        self._predict_dsl = derive_predict_dsl(self._train_dsl, deploy=names, keep_readers=False)
        model_info = self._model_info
        if self._train_job.backend == SERVER:
            client = configured_client(self._client)
            if client is None:
                raise ConfigError(f"the model is on the job server {self._train_job.url}; configure it "
                                  "(fedloom init) to deploy.", field="model_version")  # fmt: skip
            answer = client.model_deploy(self._train_job.model_id, self._train_job.model_version, names)
            raw = answer.get("data")
            data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
            info = data.get("model_info") or data  # FATE-Flow answers {model_id, model_version} in data
            if isinstance(info, Mapping) and info.get("model_version"):
                model_info = SimpleNamespace(model_id=str(info.get("model_id") or self._train_job.model_id),
                                             model_version=str(info["model_version"]))  # fmt: skip
        self._predict_model_info = copy.deepcopy(model_info)
        self._deployed = names
        self._deploy = bool(self._predict_dsl.get("components"))
        return self

    def predict(
        self,
        job_parameters: JobParameters | None = None,
        components_checkpoint: Mapping[str, Any] | None = None,
        **legacy: Any,
    ) -> None:
        """Run the predict job of a predict pipeline (readers + a deployed pipeline) and wait.

        ``components_checkpoint`` (FATE: a model of an earlier iteration) is not supported: the
        deployed model is the one the training job finished with.

        Raises
        ------
        ConfigError
            Not a predict pipeline, or the job is invalid.
        PartyFailedError
            A party failed.
        """
        if self._stage != "predict":
            raise ConfigError("to predict, deploy components of a trained pipeline and add it to a new "
                              "pipeline with the readers of the new data.", field="stage")  # fmt: skip
        if components_checkpoint:
            raise ConfigError("components_checkpoint is not supported: the deployed model is the final one.",
                              field="components_checkpoint")  # fmt: skip
        self._check_run_args(job_parameters, legacy)
        self.compile()
        trained: PipeLine = self._predict_pipeline[0]["pipeline"]
        train_job = trained._train_job
        assert train_job is not None  # get_predict_meta checked it
        model_info = trained._predict_model_info or trained._model_info
        self._predict_model_info = copy.deepcopy(model_info)
        conf = self._feed_job_parameters(self._train_conf, "predict", model_info, job_parameters)
        self._predict_conf = copy.deepcopy(conf)
        self._cur_state = "predict"
        executor = self._executor_for_job(train_job)
        self._predict_job = executor.run(conf, copy.deepcopy(self._predict_dsl), self._initiator_party(),
                                         model_job=train_job)  # fmt: skip

    # -- inspection --------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Print (to the progress stream) and return the stage, the DSL and the creation time."""
        dsl = self._train_dsl if self._stage == "fit" else self._predict_dsl
        self._say(f"Pipeline Stage is {self._stage}")
        self._say("DSL is:")
        self._say(json.dumps(dsl, indent=2))
        self._say(f"Pipeline Create Time: {self._create_time}")
        return {
            "stage": self._stage,
            "dsl": copy.deepcopy(dsl),
            "create_time": self._create_time,
            "train_job_id": self.get_train_job_id(),
            "predict_job_id": self.get_predict_job_id(),
            "deployed": list(self._deployed),
            "model_info": None if self._model_info is None else vars(self._model_info).copy(),
        }

    def _task(self, name: str, job: JobRef | None) -> TaskInfo:
        component = self._components.get(name)
        if component is None and self._stage == "predict":
            component = self._predict_pipeline[0]["pipeline"]._components.get(name)
        if component is None:
            raise ConfigError(f"component {name} is not in the pipeline.", component=name, field="component")
        init = self._initiator_conf()
        return TaskInfo(job, component, init["role"], init["party_id"], client=self._client)

    def get_component(self, component_names: str | list[str] | None = None) -> Any:
        """The :class:`~fedloom.pipeline.backend.task_info.TaskInfo` of one component (a name),
        several (a list), or every one (``None``: a dict by name), for the last job run."""
        job = self._train_job if self._cur_state != "predict" else self._predict_job
        if component_names is None:
            names = list(self._components)
            if self._stage == "predict":
                names = list(dict.fromkeys([*names, *self._predict_dsl.get("components", {})]))
            return {name: self._task(name, job) for name in names}
        if isinstance(component_names, str):
            return self._task(component_names, job)
        return [self._task(name, job) for name in component_names]

    def __getattr__(self, attr: str) -> Any:
        # ``pipeline.data_transform_0``: the component of that name (FATE's attribute access).
        if not attr.startswith("_"):
            components = self.__dict__.get("_components", {})
            if attr in components:
                return components[attr]
        raise AttributeError(f"PipeLine has no attribute or component {attr!r}")

    def __getitem__(self, item: str) -> Component:
        if item not in self._components:
            raise ConfigError(f"component {item} is not in the pipeline.", component=item)
        return self._components[item]

    # -- persistence (JSON) ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The pipeline as JSON data (:meth:`from_dict` rebuilds it)."""
        return {
            "format": FORMAT,
            "create_time": self._create_time,
            "initiator": None if self._initiator is None else vars(self._initiator).copy(),
            "roles": copy.deepcopy(self._roles),
            "components": [c.to_dict() for c in self._components.values()],
            "components_input": copy.deepcopy(self._components_input),
            "train_dsl": self._train_dsl,
            "train_conf": self._train_conf,
            "predict_dsl": self._predict_dsl,
            "predict_conf": self._predict_conf,
            "upload_conf": self._upload_conf,
            "stage": self._stage,
            "cur_state": self._cur_state,
            "fit_status": self._fit_status,
            "train_job": None if self._train_job is None else self._train_job.to_dict(),
            "predict_job": None if self._predict_job is None else self._predict_job.to_dict(),
            "model_info": None if self._model_info is None else vars(self._model_info).copy(),
            "predict_model_info": None
            if self._predict_model_info is None
            else vars(self._predict_model_info).copy(),
            "deploy": self._deploy,
            "deployed": self._deployed,
            "predict_pipeline": [
                {"pipeline": e["pipeline"].to_dict(), "data": e["data"]} for e in self._predict_pipeline
            ],
            "data_dir": None if self._data_dir is None else str(self._data_dir),
            "job_dir": None if self._job_dir is None else str(self._job_dir),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PipeLine:
        """Rebuild a pipeline from :meth:`to_dict`'s data. Only pipeline component classes (or
        registered modules) are instantiated; nothing else in the file is executed or imported.

        Raises
        ------
        ConfigError
            Not a dumped pipeline, a format this version cannot read, or an unknown component class.
        """
        if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
            found = doc.get("format") if isinstance(doc, Mapping) else type(doc).__name__
            raise ConfigError(f"not a fedloom pipeline dump (format {found!r}; expected {FORMAT!r}).",
                              field="format")  # fmt: skip
        pipe = cls(data_dir=doc.get("data_dir"), job_dir=doc.get("job_dir"))
        pipe._create_time = str(doc.get("create_time") or pipe._create_time)
        if doc.get("initiator"):
            pipe._initiator = SimpleNamespace(**doc["initiator"])
        pipe._roles = {str(k): list(v) for k, v in (doc.get("roles") or {}).items()}
        for entry in doc.get("components") or []:
            klass = component_class(str(entry.get("class") or entry.get("module")))
            component = klass.from_dict(entry)
            pipe._components[component.name] = component
        pipe._components_input = copy.deepcopy(dict(doc.get("components_input") or {}))
        pipe._train_dsl = dict(doc.get("train_dsl") or {})
        pipe._train_conf = dict(doc.get("train_conf") or {})
        pipe._predict_dsl = dict(doc.get("predict_dsl") or {})
        pipe._predict_conf = dict(doc.get("predict_conf") or {})
        pipe._upload_conf = list(doc.get("upload_conf") or [])
        pipe._stage = str(doc.get("stage") or "fit")
        pipe._cur_state = doc.get("cur_state")
        pipe._fit_status = doc.get("fit_status")
        pipe._train_job = JobRef.from_dict(doc["train_job"]) if doc.get("train_job") else None
        pipe._predict_job = JobRef.from_dict(doc["predict_job"]) if doc.get("predict_job") else None
        for key in ("model_info", "predict_model_info"):
            if doc.get(key):
                setattr(pipe, f"_{key}", SimpleNamespace(**doc[key]))
        pipe._deploy = bool(doc.get("deploy"))
        pipe._deployed = list(doc.get("deployed") or [])
        pipe._predict_pipeline = [{"pipeline": cls.from_dict(e["pipeline"]), "data": dict(e["data"])}
                                  for e in doc.get("predict_pipeline") or []]  # fmt: skip
        pipe._load = True
        return pipe

    def dump(self, file_path: str | Path | None = None) -> bytes:
        """The pipeline as UTF-8 JSON bytes; also written to ``file_path`` when given.

        Raises
        ------
        ConfigError
            A parameter value is not JSON data (names the component).
        """
        try:
            text = json.dumps(self.to_dict(), indent=1, sort_keys=False)
        except TypeError as exc:
            raise ConfigError(
                f"the pipeline holds a value that is not JSON data: {exc}", field="dump"
            ) from None
        data = text.encode("utf-8")
        if file_path is not None:
            path = Path(file_path).expanduser()
            tmp = path.with_name(path.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(path)
        return data

    @classmethod
    def load(cls, pipeline_bytes: bytes | str) -> PipeLine:
        """A pipeline from :meth:`dump`'s bytes."""
        try:
            doc = json.loads(pipeline_bytes)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"not a fedloom pipeline dump (not JSON: {exc}).", field="format") from None
        return cls.from_dict(doc)

    @classmethod
    def load_model_from_file(cls, file_path: str | Path) -> PipeLine:
        """A pipeline from a file written by :meth:`dump`."""
        path = Path(file_path).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", field="file_path") from None
        return cls.load(data)

    def __repr__(self) -> str:
        return f"PipeLine(stage={self._stage!r}, components={list(self._components)})"


# FATE's status names, importable from here as in FATE's module.
__all__ += ["JobStatus", "StatusCode"]
