#
#  Written as FATE's examples/pipeline/hetero_feature_selection scripts are written (binning, then a
#  selection by IV top-k reading the binning model as isometric_model), with FATE's hetero LR and
#  evaluation after it; only the import lines say fedloom.pipeline instead of pipeline.
#
import argparse

from fedloom.pipeline.backend.pipeline import PipeLine
from fedloom.pipeline.component import (
    DataTransform,
    Evaluation,
    HeteroFeatureBinning,
    HeteroFeatureSelection,
    HeteroLR,
    Intersection,
    Reader,
)
from fedloom.pipeline.interface import Data, Model
from fedloom.pipeline.utils.tools import load_job_config


def main(config="../../config.yaml", namespace=""):
    # obtain config
    if isinstance(config, str):
        config = load_job_config(config)
    parties = config.parties
    guest = parties.guest[0]
    host = parties.host[0]
    arbiter = parties.arbiter[0]

    guest_train_data = {"name": "breast_hetero_guest", "namespace": f"experiment{namespace}"}
    host_train_data = {"name": "breast_hetero_host", "namespace": f"experiment{namespace}"}

    pipeline = (
        PipeLine()
        .set_initiator(role="guest", party_id=guest)
        .set_roles(guest=guest, host=host, arbiter=arbiter)
    )

    reader_0 = Reader(name="reader_0")
    reader_0.get_party_instance(role="guest", party_id=guest).component_param(table=guest_train_data)
    reader_0.get_party_instance(role="host", party_id=host).component_param(table=host_train_data)

    data_transform_0 = DataTransform(name="data_transform_0")
    data_transform_0.get_party_instance(role="guest", party_id=guest).component_param(with_label=True)
    data_transform_0.get_party_instance(role="host", party_id=host).component_param(with_label=False)

    intersection_0 = Intersection(name="intersection_0")

    param = {
        "method": "quantile",
        "compress_thres": 10000,
        "head_size": 10000,
        "error": 0.001,
        "bin_num": 10,
        "bin_indexes": -1,
        "bin_names": None,
        "category_indexes": None,
        "category_names": None,
        "adjustment_factor": 0.5,
        "local_only": False,
        "encrypt_param": {"key_length": 1024},
        "transform_param": {"transform_cols": -1, "transform_names": None, "transform_type": "bin_num"},
    }
    hetero_feature_binning_0 = HeteroFeatureBinning(name="hetero_feature_binning_0", **param)

    selection_param = {
        "select_col_indexes": -1,
        "select_names": [],
        "filter_methods": ["iv_filter"],
        "iv_param": {"metrics": "iv", "filter_type": "top_k", "threshold": 7},
    }
    hetero_feature_selection_0 = HeteroFeatureSelection(name="hetero_feature_selection_0", **selection_param)

    hetero_lr_0 = HeteroLR(
        name="hetero_lr_0",
        penalty="L2",
        optimizer="rmsprop",
        tol=0.0001,
        alpha=0.01,
        max_iter=3,
        early_stop="diff",
        batch_size=-1,
        learning_rate=0.15,
        init_param={"init_method": "zeros"},
        encrypt_param={"key_length": 1024},
    )

    evaluation_0 = Evaluation(name="evaluation_0", eval_type="binary")

    pipeline.add_component(reader_0)
    pipeline.add_component(data_transform_0, data=Data(data=reader_0.output.data))
    pipeline.add_component(intersection_0, data=Data(data=data_transform_0.output.data))
    pipeline.add_component(hetero_feature_binning_0, data=Data(data=intersection_0.output.data))
    pipeline.add_component(
        hetero_feature_selection_0,
        data=Data(data=intersection_0.output.data),
        model=Model(isometric_model=hetero_feature_binning_0.output.model),
    )
    pipeline.add_component(hetero_lr_0, data=Data(train_data=hetero_feature_selection_0.output.data))
    pipeline.add_component(evaluation_0, data=Data(data=hetero_lr_0.output.data))

    pipeline.compile()

    pipeline.fit()

    print(pipeline.get_component("hetero_feature_selection_0").get_model_param())
    print(pipeline.get_component("hetero_lr_0").get_summary())
    return pipeline


if __name__ == "__main__":
    parser = argparse.ArgumentParser("PIPELINE DEMO")
    parser.add_argument("-config", type=str, help="config file")
    args = parser.parse_args()
    if args.config is not None:
        main(args.config)
    else:
        main()
