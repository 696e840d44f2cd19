// Validates the Kubernetes manifests offline: every resource a kustomization lists, with the kustomization's own
// transforms applied, against the Kubernetes OpenAPI schemas (npm kubernetes-models), and every other YAML file in the
// folder (examples) as it is. Prints the validated objects as JSON for the caller's checks; exits 1 on the first
// invalid object. Usage: node validate-k8s.js <folder>   (NODE_PATH must hold kubernetes-models and yaml)
"use strict";
const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

const folder = process.argv[2];
const fail = (message) => { console.error(message); process.exit(1); };

function documents(file) {
  return YAML.parseAllDocuments(fs.readFileSync(file, "utf8")).map((doc) => {
    if (doc.errors.length > 0) fail(`${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
    return doc.toJS();
  }).filter((o) => o !== null);
}

// The transforms this script applies; any other kustomization field would be ignored here, so it is refused.
const known = new Set(["apiVersion", "kind", "resources", "labels", "images"]);

function kustomize(file) {
  const [k] = documents(file);
  for (const key of Object.keys(k)) {
    if (!known.has(key)) fail(`${file}: '${key}' is not resolved by validate-k8s.js; extend it before using it`);
  }
  const objects = [];
  for (const resource of k.resources ?? []) {
    const target = path.join(path.dirname(file), resource);
    if (!fs.existsSync(target)) fail(`${file}: resource ${resource} does not exist`);
    const sources = fs.statSync(target).isDirectory() ? kustomize(path.join(target, "kustomization.yaml")) : documents(target).map((o) => ({ file: target, object: o }));
    objects.push(...sources);
  }
  for (const { object } of objects) {
    for (const label of k.labels ?? []) {
      object.metadata.labels = { ...(object.metadata.labels ?? {}), ...label.pairs };
    }
    const pod = object.spec?.template?.spec;
    for (const container of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
      const [name, tag] = container.image.split(":");
      const image = (k.images ?? []).find((i) => i.name === name);
      if (image) container.image = `${image.newName ?? name}:${image.newTag ?? tag}`;
    }
  }
  return objects;
}

function model(object) {
  const group = object.apiVersion.includes("/") ? object.apiVersion : `v1`;
  const modulePath = `kubernetes-models/${group}/${object.kind}`;
  try {
    return require(modulePath)[object.kind];
  } catch {
    fail(`${object.kind} ${object.apiVersion}: no schema (${modulePath})`);
  }
}

const kustomization = path.join(folder, "kustomization.yaml");
const listed = kustomize(kustomization);
const listedFiles = new Set(listed.map((o) => o.file));
const others = fs.readdirSync(folder).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(folder, f))
  .filter((f) => f !== kustomization && !listedFiles.has(f))
  .flatMap((f) => documents(f).map((o) => ({ file: f, object: o, example: true })));

const out = [];
for (const { file, object, example } of [...listed, ...others]) {
  const Model = model(object);
  try {
    new Model(object).validate();
  } catch (e) {
    fail(`${path.basename(file)}: ${object.kind} ${object.metadata?.name}: ${e.message}`);
  }
  out.push({ file: path.basename(file), listed: !example, object });
}
console.log(JSON.stringify(out));
