"""Prints the requests that botocore (the AWS CLI's signer) sends for a few
EKS calls and an `aws eks get-token` token, signed at a fixed time.

The output is pasted into botocore_test.go; this script is not run by the
tests. Needs botocore and awscli (v1):

    python3 testdata/botocore_vectors.py
"""

import datetime
import json
from unittest import mock

import botocore.auth
import botocore.session
from botocore.awsrequest import AWSResponse

FIXED = datetime.datetime(2026, 11, 27, 12, 0, 0)
ENDPOINT = "http://berth.localhost:8443"
ARN = "arn:aws:eks:us-east-1:000000000000:cluster/demo"


def capture(client, op, **params):
    sent = {}

    def before_send(request, **kwargs):
        sent["request"] = request
        return AWSResponse(request.url, 200, {}, RawBody(b"{}"))

    client.meta.events.register("before-send.eks", before_send)
    try:
        getattr(client, op)(**params)
    except Exception:
        pass  # the fake response may not parse; the request is what we want
    client.meta.events.unregister("before-send.eks", before_send)
    r = sent["request"]
    scheme_host = r.url.split("/", 3)
    host = scheme_host[2]
    target = "/" + scheme_host[3] if len(scheme_host) > 3 else "/"
    body = r.body or b""
    if isinstance(body, str):
        body = body.encode()
    lines = [f"{r.method} {target} HTTP/1.1", f"Host: {host}"]
    for k, v in r.headers.items():
        if isinstance(v, bytes):
            v = v.decode()
        lines.append(f"{k}: {v}")
    if body and "Content-Length" not in r.headers:
        lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines) + "\r\n\r\n" + body.decode()


class RawBody:
    def __init__(self, data):
        self.data = data

    def stream(self, *a, **k):
        yield self.data

    def read(self, *a, **k):
        return self.data


def main():
    out = {}
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=FIXED):
        s = botocore.session.get_session()
        eks = s.create_client(
            "eks", region_name="us-east-1", endpoint_url=ENDPOINT,
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        out["untag"] = capture(eks, "untag_resource", resourceArn=ARN, tagKeys=["team", "env"])
        out["tag"] = capture(eks, "tag_resource", resourceArn=ARN, tags={"env": "dev", "team": "a b"})
        out["list"] = capture(eks, "list_clusters", maxResults=10, include=["all"])

        tmp = s.create_client(
            "eks", region_name="eu-west-1", endpoint_url=ENDPOINT,
            aws_access_key_id="ASIATEMPORARY",
            aws_secret_access_key="temporarySecretKey",
            aws_session_token="FwoGZXIvYXdzEtemporary/token+with=chars")
        out["describe_session"] = capture(tmp, "describe_cluster", name="demo")

        # A request that signs the Date header instead of X-Amz-Date.
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        req = AWSRequest(method="GET", url=ENDPOINT + "/clusters/demo", headers={"Date": "now"})
        SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                  "eks", "us-east-1").add_auth(req)
        p = req.prepare()
        lines = ["GET /clusters/demo HTTP/1.1", "Host: berth.localhost:8443"]
        lines += [f"{k}: {v}" for k, v in p.headers.items()]
        out["date_header"] = "\r\n".join(lines) + "\r\n\r\n"

        # A path with repeated slashes and dot segments, which botocore
        # removes before signing.
        req = AWSRequest(method="GET", url=ENDPOINT + "/clusters//demo/./x/../")
        SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                  "eks", "us-east-1").add_auth(req)
        p = req.prepare()
        lines = ["GET /clusters//demo/./x/../ HTTP/1.1", "Host: berth.localhost:8443"]
        lines += [f"{k}: {v}" for k, v in p.headers.items()]
        out["dot_segments"] = "\r\n".join(lines) + "\r\n\r\n"

        from awscli.customizations.eks.get_token import STSClientFactory, TokenGenerator
        sts_session = botocore.session.get_session()
        sts_session.set_credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        sts = STSClientFactory(sts_session).get_sts_client(region_name="us-east-1")
        out["token"] = TokenGenerator(sts).get_token("demo")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
