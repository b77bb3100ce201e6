#
#  Written as FATE's examples/pipeline/upload/pipeline-upload.py is written; only the import lines
#  say fedloom.pipeline instead of pipeline.
#
import argparse
import os

from fedloom.pipeline.backend.pipeline import PipeLine
from fedloom.pipeline.utils.tools import load_job_config


def main(config="../../config.yaml", tables=("dvisits_hetero_guest", "dvisits_hetero_host"), namespace=""):
    # obtain config
    if isinstance(config, str):
        config = load_job_config(config)
    parties = config.parties
    guest = parties.guest[0]
    data_base = config.data_base

    # partition for data storage
    partition = 4

    pipeline_upload = PipeLine().set_initiator(role="guest", party_id=guest).set_roles(guest=guest)
    for table in tables:
        pipeline_upload.add_upload_data(
            file=os.path.join(data_base, f"examples/data/{table}.csv"),
            table_name=table,  # table name
            namespace=f"experiment{namespace}",  # namespace
            head=1,
            partition=partition,
        )  # data info

    # upload data
    pipeline_upload.upload(drop=1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser("PIPELINE DEMO")
    parser.add_argument("-config", type=str, help="config file")
    args = parser.parse_args()
    if args.config is not None:
        main(args.config)
    else:
        main()
