#
#  Written as FATE's examples/pipeline/hetero_poisson scripts are written (the validate reader and
#  Model(dataio_0.output.model) of pipeline-hetero-poisson-validate.py, the evaluation, deploy and
#  predict of pipeline-hetero-poisson.py, dump / load_model_from_file / describe of FATE's pipeline
#  tutorial); only the import lines say fedloom.pipeline instead of pipeline.
#
import argparse

from fedloom.pipeline.backend.pipeline import PipeLine
from fedloom.pipeline.component import DataIO, Evaluation, HeteroPoisson, Intersection, Reader
from fedloom.pipeline.interface import Data, Model
from fedloom.pipeline.utils.tools import load_job_config


def main(config="../../config.yaml", namespace="", dump_file="pipeline-hetero-poisson.json"):
    # obtain config
    if isinstance(config, str):
        config = load_job_config(config)
    parties = config.parties
    guest = parties.guest[0]
    host = parties.host[0]
    arbiter = parties.arbiter[0]

    guest_train_data = [
        {"name": "dvisits_hetero_guest", "namespace": f"experiment{namespace}"},
        {"name": "dvisits_hetero_guest", "namespace": f"experiment{namespace}"},
    ]
    host_train_data = [
        {"name": "dvisits_hetero_host", "namespace": f"experiment{namespace}"},
        {"name": "dvisits_hetero_host", "namespace": f"experiment{namespace}"},
    ]

    pipeline = (
        PipeLine()
        .set_initiator(role="guest", party_id=guest)
        .set_roles(guest=guest, host=host, arbiter=arbiter)
    )

    reader_0 = Reader(name="reader_0")
    reader_0.get_party_instance(role="guest", party_id=guest).component_param(table=guest_train_data[0])
    reader_0.get_party_instance(role="host", party_id=host).component_param(table=host_train_data[0])

    reader_1 = Reader(name="reader_1")
    reader_1.get_party_instance(role="guest", party_id=guest).component_param(table=guest_train_data[1])
    reader_1.get_party_instance(role="host", party_id=host).component_param(table=host_train_data[1])

    dataio_0 = DataIO(name="dataio_0")
    dataio_1 = DataIO(name="dataio_1")

    dataio_0.get_party_instance(role="guest", party_id=guest).component_param(
        with_label=True, label_name="doctorco", label_type="float", output_format="dense"
    )
    dataio_0.get_party_instance(role="host", party_id=host).component_param(with_label=False)

    intersection_0 = Intersection(name="intersection_0")
    intersect_1 = Intersection(name="intersection_1")

    hetero_poisson_0 = HeteroPoisson(
        name="hetero_poisson_0",
        early_stop="weight_diff",
        max_iter=10,
        exposure_colname="exposure",
        optimizer="rmsprop",
        tol=0.001,
        alpha=100.0,
        batch_size=-1,
        learning_rate=0.01,
        penalty="L2",
        validation_freqs=5,
        early_stopping_rounds=5,
        metrics=["mean_absolute_error", "root_mean_squared_error"],
        use_first_metric_only=False,
        decay_sqrt=False,
        init_param={"init_method": "zeros"},
        encrypt_param={"key_length": 1024},
        encrypted_mode_calculator_param={"mode": "fast"},
    )

    evaluation_0 = Evaluation(name="evaluation_0", eval_type="regression", pos_label=1)
    evaluation_0.get_party_instance(role="host", party_id=host).component_param(need_run=False)

    pipeline.add_component(reader_0)
    pipeline.add_component(reader_1)
    pipeline.add_component(dataio_0, data=Data(data=reader_0.output.data))
    pipeline.add_component(dataio_1, data=Data(data=reader_1.output.data), model=Model(dataio_0.output.model))
    pipeline.add_component(intersection_0, data=Data(data=dataio_0.output.data))
    pipeline.add_component(intersect_1, data=Data(data=dataio_1.output.data))
    pipeline.add_component(
        hetero_poisson_0,
        data=Data(train_data=intersection_0.output.data, validate_data=intersect_1.output.data),
    )
    pipeline.add_component(evaluation_0, data=Data(data=hetero_poisson_0.output.data))

    pipeline.compile()

    pipeline.fit()

    print(pipeline.get_component("hetero_poisson_0").get_model_param())
    print(pipeline.get_component("hetero_poisson_0").get_summary())

    # predict
    # deploy required components
    pipeline.deploy_component([dataio_0, intersection_0, hetero_poisson_0])

    # save the trained pipeline, and load it back
    pipeline.dump(dump_file)
    loaded_pipeline = PipeLine.load_model_from_file(dump_file)
    loaded_pipeline.describe()

    predict_pipeline = PipeLine()
    # add data reader onto predict pipeline
    predict_pipeline.add_component(reader_0)
    # add selected components from train pipeline onto predict pipeline
    # specify data source
    predict_pipeline.add_component(
        loaded_pipeline, data=Data(predict_input={loaded_pipeline.dataio_0.input.data: reader_0.output.data})
    )
    # run predict model
    predict_pipeline.predict()

    return pipeline, predict_pipeline


if __name__ == "__main__":
    parser = argparse.ArgumentParser("PIPELINE DEMO")
    parser.add_argument("-config", type=str, help="config file")
    args = parser.parse_args()
    if args.config is not None:
        main(args.config)
    else:
        main()
