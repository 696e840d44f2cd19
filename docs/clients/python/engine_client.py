"""Engine from Python (grpcio): send a purchase, look the customer up, list the segments.

Generate the stubs once, from the repository root (grpcio-tools; Debian: python3-grpc-tools):
    python3 -m grpc_tools.protoc -I protos --python_out=gen --grpc_python_out=gen \
        protos/engine/v1/*.proto protos/google/api/*.proto
then:
    PYTHONPATH=gen python3 docs/clients/python/engine_client.py localhost:5000 alice
A server with API keys (docs/security.md) needs one: ENGINE_API_KEY=<key>, sent as `authorization: Bearer <key>`.
"""
import os
import sys
from datetime import datetime, timezone

import grpc
from google.protobuf.json_format import MessageToJson
from google.protobuf.timestamp_pb2 import Timestamp

from engine.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc, segments_pb2, segments_pb2_grpc


def main(server: str, customer_id: str) -> None:
    key = os.environ.get("ENGINE_API_KEY")
    metadata = [("authorization", f"Bearer {key}")] if key else None
    with grpc.insecure_channel(server) as channel:
        ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        segments = segments_pb2_grpc.SegmentServiceStub(channel)

        at = Timestamp()
        at.FromDatetime(datetime.now(timezone.utc).replace(microsecond=0))
        event = common_pb2.Event(event_id="py-order-1", customer_id=customer_id, type=common_pb2.PURCHASE,
                                 amount=42.5, occurred_at=at, category="books")
        response = ingest.Ingest(ingest_pb2.IngestRequest(events=[event]), metadata=metadata)
        print("ingest:", response.accepted, "accepted,", response.duplicates, "duplicates")

        try:
            customer = segments.GetCustomer(segments_pb2.GetCustomerRequest(customer_id=customer_id), metadata=metadata)
            print("customer:", MessageToJson(customer, indent=None))
        except grpc.RpcError as e:  # e.g. NOT_FOUND, with the field named in details()
            print("error:", e.code().name, e.details())
            sys.exit(1)

        listing = segments.ListSegments(segments_pb2.ListSegmentsRequest(), metadata=metadata)
        print("segments:", ", ".join(f"{s.segment_id} {s.name} ({s.size})" for s in listing.segments))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
