"""A real S3 endpoint on loopback for the tests: moto's server with request authentication
on (Signature V4 checked, IAM policies enforced). Creates one IAM user allowed to use S3,
writes its credentials as shell assignments to the file given, then serves until stopped.

    s3_server.py ENV_FILE
"""
import json
import os
import signal
import socket
import sys
import threading

# The three requests that set up the user are the only ones served without a signature.
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    env_file = sys.argv[1]
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="setup", aws_secret_access_key="setup")
    iam.create_user(UserName="sightline")
    key = iam.create_access_key(UserName="sightline")["AccessKey"]
    iam.put_user_policy(UserName="sightline", PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    tmp = env_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"TEST_S3_ENDPOINT={endpoint}\n"
                f"TEST_S3_ACCESS_KEY_ID={key['AccessKeyId']}\n"
                f"TEST_S3_SECRET_ACCESS_KEY={key['SecretAccessKey']}\n"
                "TEST_S3_REGION=us-east-1\n")
    os.replace(tmp, env_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
