// Engine from Node.js (@grpc/grpc-js, @grpc/proto-loader): send a purchase, look the customer up, list the segments.
// The protos load at run time; no code generation.
//   npm install @grpc/grpc-js @grpc/proto-loader
//   node docs/clients/node/engine-client.js localhost:5000 alice [path/to/protos]
// A server with API keys (docs/security.md) needs one: ENGINE_API_KEY=<key>, sent as `authorization: Bearer <key>`.
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [server, customerId, protos = path.join(__dirname, '..', '..', '..', 'protos')] = process.argv.slice(2);
const definition = protoLoader.loadSync(['engine/v1/ingest.proto', 'engine/v1/segments.proto'], {
  includeDirs: [protos], keepCase: false, longs: String, enums: String, defaults: true,
});
const v1 = grpc.loadPackageDefinition(definition).engine.v1;
const credentials = grpc.credentials.createInsecure();
const ingest = new v1.IngestService(server, credentials);
const segments = new v1.SegmentService(server, credentials);
const metadata = new grpc.Metadata();
if (process.env.ENGINE_API_KEY) metadata.set('authorization', `Bearer ${process.env.ENGINE_API_KEY}`);
const call = (client, method, request) =>
  new Promise((resolve, reject) => client[method](request, metadata, (error, response) => (error ? reject(error) : resolve(response))));

(async () => {
  const seconds = Math.floor(Date.now() / 1000);
  const response = await call(ingest, 'Ingest', {
    events: [{ eventId: 'node-order-1', customerId, type: 'PURCHASE', amount: 42.5, occurredAt: { seconds }, category: 'books' }],
  });
  console.log(`ingest: ${response.accepted} accepted, ${response.duplicates} duplicates`);
  const customer = await call(segments, 'GetCustomer', { customerId });
  console.log(`customer: ${JSON.stringify(customer)}`);
  const listing = await call(segments, 'ListSegments', {});
  console.log(`segments: ${listing.segments.map((s) => `${s.segmentId} ${s.name} (${s.size})`).join(', ')}`);
})().catch((error) => {
  // A gRPC error: error.code (5 = NOT_FOUND, 3 = INVALID_ARGUMENT) and error.details.
  console.error(`error: ${error.code} ${error.details ?? error.message}`);
  process.exit(1);
});
