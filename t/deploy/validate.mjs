// Schema checks of rendered Kubernetes manifests, for t/deploy/*.t.
//   node validate.mjs json FILE.yaml          -> JSON array of the documents
//   node validate.mjs validate FILE.yaml...   -> one line per document:
//        ok<TAB>FILE<TAB>Kind/name   or   not ok<TAB>FILE<TAB>Kind/name<TAB>error
//   node validate.mjs ts OUT_DIR FILE.yaml... -> OUT_DIR/manifests.ts + tsconfig.json,
//        every document as a typed object literal (tsc --noEmit then catches
//        misspelled or unknown fields: TypeScript's excess-property check)
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// apiVersion -> [package, module dir]
const GROUPS = {
  "v1": ["kubernetes-models", "v1"],
  "apps/v1": ["kubernetes-models", "apps/v1"],
  "networking.k8s.io/v1": ["kubernetes-models", "networking.k8s.io/v1"],
  "policy/v1": ["kubernetes-models", "policy/v1"],
  "keda.sh/v1alpha1": ["@kubernetes-models/keda", "keda.sh/v1alpha1"],
  "external-secrets.io/v1": ["@kubernetes-models/external-secrets", "external-secrets.io/v1"],
  "generators.external-secrets.io/v1alpha1": ["@kubernetes-models/external-secrets", "generators.external-secrets.io/v1alpha1"],
};

function load(file) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  const out = [];
  for (const d of docs) {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
    const v = d.toJS();
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

function modulePath(doc) {
  const g = GROUPS[doc.apiVersion];
  if (!g) return null;
  return `${g[0]}/${g[1]}/${doc.kind}`;
}

const id = (doc) => `${doc.kind}/${doc?.metadata?.name ?? "?"}`;
const [mode, ...args] = process.argv.slice(2);

if (mode === "json") {
  process.stdout.write(JSON.stringify(load(args[0])));
} else if (mode === "validate") {
  for (const file of args) {
    for (const doc of load(file)) {
      const path = modulePath(doc);
      let err = null;
      if (!path) {
        err = `no schema for apiVersion ${doc.apiVersion}`;
      } else {
        try {
          const mod = await import(path);
          const Model = mod[doc.kind];
          new Model(doc).validate();
        } catch (e) {
          err = String(e && e.message ? e.message : e).replace(/\s+/g, " ");
        }
      }
      console.log(err ? `not ok\t${file}\t${id(doc)}\t${err}` : `ok\t${file}\t${id(doc)}`);
    }
  }
} else if (mode === "ts") {
  const [outDir, ...files] = args;
  mkdirSync(outDir, { recursive: true });
  const imports = new Map();
  const body = [];
  let n = 0;
  for (const file of files) {
    for (const doc of load(file)) {
      const path = modulePath(doc);
      if (!path) continue;
      const alias = `${doc.kind}_${path.replace(/[^A-Za-z0-9]/g, "_")}`;
      imports.set(alias, `import { ${doc.kind} as ${alias} } from "${path}";`);
      // apiVersion and kind are implied by the class.
      const { apiVersion, kind, ...rest } = doc;
      body.push(`// ${file}: ${id(doc)}\nexport const doc${n++} = new ${alias}(${JSON.stringify(rest, null, 2)});`);
    }
  }
  writeFileSync(`${outDir}/manifests.ts`, [...imports.values(), "", ...body, ""].join("\n"));
  writeFileSync(`${outDir}/tsconfig.json`, JSON.stringify({
    compilerOptions: {
      target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext",
      strict: true, noEmit: true, skipLibCheck: true, types: [],
      typeRoots: [],
    },
    files: ["manifests.ts"],
  }, null, 2));
} else {
  console.error("usage: validate.mjs json FILE | validate FILE... | ts OUT_DIR FILE...");
  process.exit(2);
}
