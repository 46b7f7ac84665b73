import path from 'node:path'

import * as z from 'zod'

import {TENSOR_DTYPES} from './dtypes.js'
import {experimentSchema} from './experiment.js'
import {IMAGE_REFERENCE_PATTERN} from './image-reference.js'
import {isQuantity, parseQuantity, QUANTITY_PATTERN} from './quantity.js'

/**
 * The model.yaml schema. It is a stable interface: later versions only add optional keys.
 * Keys are snake_case, as in cog.yaml and Kubernetes manifests written by hand.
 */

export const SCHEMA_URL = 'https://raw.githubusercontent.com/mlship/mlship/main/schema/model.schema.json'

export {TENSOR_DTYPES, type TensorDtype} from './dtypes.js'

// Docker repository path components: lowercase letters, digits and separators (the distribution spec's grammar).
const IMAGE_NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
// semver 2.0.0, from semver.org.
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/
const SYMBOLIC_DIM = /^[A-Za-z_][A-Za-z0-9_.-]*$/
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const REGISTRY_HOST = /^[a-zA-Z0-9.-]+(?::\d{1,5})?$/
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/

export const imageNameSchema = z
  .string()
  .max(128)
  .regex(
    IMAGE_NAME,
    'lowercase letters, digits and . _ - separators (it becomes the image name), e.g. "iris-classifier"',
  )
export const semverSchema = z.string().regex(SEMVER, 'a semantic version such as "1.0.0" or "2.1.0-rc.1"')
export const imageReferenceSchema = z
  .string()
  .max(255)
  .regex(IMAGE_REFERENCE_PATTERN, 'an image reference such as "node:20-bookworm-slim" or "registry:5000/team/base:1.2"')

const dimension = z.union([
  z.number().int().min(-1, 'a dimension is a positive integer, -1 or a symbolic name'),
  z.string().regex(SYMBOLIC_DIM, 'a symbolic dimension name such as "batch"'),
])

function positiveIntSchema() {
  return z.number().int().positive()
}

const tensorSpec = z.strictObject({
  name: z.string().min(1),
  dtype: z.enum(TENSOR_DTYPES),
  shape: z.array(dimension).describe('Dimensions: integers for fixed sizes, names (e.g. "batch") for dynamic ones.'),
  description: z.string().optional(),
})

export const INTERPOLATIONS = ['nearest', 'box', 'bilinear', 'hamming', 'bicubic', 'lanczos'] as const

export const imagePreprocessSchema = z
  .strictObject({
    color: z
      .enum(['rgb', 'grayscale'])
      .default('rgb')
      .describe('RGB (3 channels), or grayscale (1 channel, ITU-R 601-2 luma as Pillow converts to "L").'),
    resize: z
      .enum(['shorter_side', 'stretch'])
      .default('shorter_side')
      .describe(
        "shorter_side: scale the image so its shorter side is `shorter_side` pixels (aspect kept), then cut the signature's height x width from the centre (torchvision's Resize + CenterCrop); stretch: scale straight to height x width.",
      ),
    shorter_side: positiveIntSchema()
      .optional()
      .describe("The shorter side before the centre crop, e.g. 256 for a 224 crop. Default: the crop's longer side."),
    interpolation: z
      .enum(INTERPOLATIONS)
      .default('bilinear')
      .describe("The resampling filter, computed as Pillow's Image.resize computes it (antialiased when shrinking)."),
    scale: z
      .number()
      .positive()
      .default(1 / 255)
      .describe('Each 0-255 pixel value is multiplied by this first (1/255 gives 0..1, as torchvision ToTensor).'),
    mean: z.array(z.number()).min(1).optional().describe('Per channel, subtracted after scaling (Normalize).'),
    std: z.array(z.number().positive()).min(1).optional().describe('Per channel, divides after the mean.'),
    layout: z
      .enum(['NCHW', 'NHWC'])
      .optional()
      .describe('Default: from the shape ([batch, C, H, W] is NCHW, [batch, H, W, C] is NHWC, C being 1 or 3).'),
    max_pixels: positiveIntSchema()
      .default(40_000_000)
      .describe('Larger images (width x height, read from the header before decoding) are refused with 413.'),
  })
  .describe('The client sends an encoded image (JPEG, PNG or WebP) and the server makes this input from it.')

export const textPreprocessSchema = z
  .strictObject({
    tokenizer: z.string().min(1).describe('A Hugging Face tokenizer.json, relative to model.yaml.'),
    max_length: positiveIntSchema()
      .optional()
      .describe("Tokens per row, special tokens included. Default: the signature's sequence length."),
    truncation: z.boolean().default(true).describe('Cut longer texts to max_length; false refuses them with 400.'),
    padding: z
      .enum(['max_length', 'longest'])
      .default('max_length')
      .describe('Pad every row to max_length, or to the longest row of the request (dynamic sequence length only).'),
    add_special_tokens: z
      .boolean()
      .default(true)
      .describe("The tokenizer's [CLS]/[SEP] (or <s>/</s>) around each text."),
    attention_mask: z
      .string()
      .min(1)
      .optional()
      .describe(
        'The input that gets the attention mask. Default: the input named attention_mask, if the model has one.',
      ),
    token_type_ids: z
      .string()
      .min(1)
      .optional()
      .describe(
        'The input that gets the token type ids. Default: the input named token_type_ids, if the model has one.',
      ),
  })
  .describe('The client sends text; the server tokenises it into this input (the token ids) and the mask inputs.')

export const preprocessSchema = z
  .strictObject({image: imagePreprocessSchema.optional(), text: textPreprocessSchema.optional()})
  .refine((p) => (p.image === undefined) !== (p.text === undefined), {
    error: 'declare exactly one of image: or text:',
  })
  .describe('What the client may send instead of this tensor: an image or text, turned into the tensor by the server.')

export const postprocessSchema = z
  .strictObject({
    softmax: z
      .boolean()
      .default(false)
      .describe('Turn the scores into probabilities first (for a model that outputs logits).'),
    top_k: positiveIntSchema().default(5).describe('How many of the best classes to list in "top_k".'),
  })
  .describe('Answers also carry "label", "score" and "top_k" (the best classes with their scores) for this output.')

export const inputSpecSchema = tensorSpec.extend({
  example: z.unknown().optional().describe('An example value for this input (nested array), used by docs and bench.'),
  preprocess: preprocessSchema.optional(),
})

export const outputSpecSchema = tensorSpec.extend({
  labels: z
    .array(z.string())
    .min(1)
    .optional()
    .describe('Class labels, in the order of the last dimension of this output (classifiers).'),
  postprocess: postprocessSchema.optional(),
})

export const signatureSchema = z.strictObject({
  inputs: z.array(inputSpecSchema).min(1),
  outputs: z.array(outputSpecSchema).min(1),
})

const positiveInt = z.number().int().positive()

export const batchingSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(true)
    .describe('Run requests that arrive together as one batch (dynamic batch dimension only).'),
  max_batch_size: positiveInt.default(32).describe('Most rows in one batched inference.'),
  max_delay_ms: z
    .number()
    .min(0)
    .max(10_000)
    .default(5)
    .describe('Longest a request waits for others to join its batch.'),
})

export const cacheSchema = z.strictObject({
  enabled: z.boolean().default(false),
  max_entries: positiveInt.default(1024),
  ttl_seconds: z.number().positive().default(300),
})

export const AUTH_ROUTE_ACCESS = ['open', 'protected'] as const

export const authSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(false)
    .describe(
      'Require an API key (Authorization: Bearer KEY, or X-API-Key: KEY) on the inference routes. The keys come from the environment or a file, never from model.yaml. Off by default: turn it on for any server other machines can reach.',
    ),
  keys_env: z
    .string()
    .regex(ENV_NAME, 'an environment variable name such as "MLSHIP_API_KEYS"')
    .default('MLSHIP_API_KEYS')
    .describe('The environment variable that holds the API keys: one per line, or separated by commas.'),
  keys_file: z
    .string()
    .min(1)
    .optional()
    .describe(
      'A file of API keys, one per line ("#" starts a comment), such as a mounted Kubernetes Secret; MLSHIP_API_KEYS_FILE overrides it. A changed file is picked up while the server runs.',
    ),
  reload_interval_s: z
    .number()
    .min(1)
    .max(3600)
    .default(10)
    .describe('How often the keys file is read again for changed keys (rotation without a restart).'),
  metrics: z
    .enum(AUTH_ROUTE_ACCESS)
    .default('protected')
    .describe('GET /metrics: "protected" (a Prometheus scrape sends a key) or "open".'),
  docs: z
    .enum(AUTH_ROUTE_ACCESS)
    .default('open')
    .describe(
      'GET /docs, /openapi.json, / and the v2 metadata routes: "open" (the API page works in a browser: its Authorize button takes a key) or "protected".',
    ),
  rate_limit: z
    .strictObject({
      requests_per_second: z.number().positive().describe('Requests each key may make per second, on average.'),
      burst: positiveInt
        .optional()
        .describe('Requests a key may make at once after a quiet spell; default: one second of its rate.'),
    })
    .optional()
    .describe('A request-rate limit per key; past it the answer is 429 with Retry-After.'),
})

export const servingSchema = z.strictObject({
  host: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe(
      'Interface `serve --local` listens on: 127.0.0.1 is this machine only, 0.0.0.0 shares the server with the network. The image always listens on every interface of its container (HOST).',
    ),
  port: z.number().int().min(1).max(65_535).default(8080),
  workers: z
    .union([z.literal('auto'), positiveInt])
    .default('auto')
    .describe('Inference worker threads; "auto" uses the CPUs this process may really use (cgroup quota).'),
  intra_op_threads: positiveInt.default(1).describe("onnxruntime's intra-op threads per worker."),
  max_batch_size: positiveInt.default(1024).describe('Largest batch one request may send.'),
  body_limit_bytes: positiveInt
    .default(10 * 1024 * 1024)
    .describe('Largest request body; past it the answer is 413 (the rest of the body is read and thrown away).'),
  body_timeout_ms: positiveInt
    .default(30_000)
    .describe(
      'The whole request (headers and body) must arrive within this; past it the answer is 408 and the connection closes.',
    ),
  request_timeout_ms: positiveInt.default(30_000).describe('Deadline for one request; past it the answer is 504.'),
  max_queue: positiveInt.default(256).describe('Requests waiting for a worker; past it the answer is 503 at once.'),
  max_queue_delay_ms: z
    .number()
    .positive()
    .optional()
    .describe(
      'Refuse with 503 at once when the expected wait for a worker (queued rows times the measured cost of a row) is longer than this; keeps the latency of accepted requests bounded under overload whatever the model costs. Default: no bound but max_queue.',
    ),
  batching: batchingSchema.default(() => batchingSchema.parse({})),
  cache: cacheSchema.default(() => cacheSchema.parse({})),
  log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  request_log_per_second: z
    .union([positiveInt, z.literal('all')])
    .default(200)
    .describe(
      'Lines of successful requests each server process logs per second at most; past it they are counted, and one line a second says how many were not logged. Errors, requests slower than 250 ms and every other line are always logged. "all" logs every request. LOG_REQUESTS_PER_SECOND overrides it.',
    ),
  auth: authSchema.default(() => authSchema.parse({})).describe('Who may call the model: API keys.'),
})

export const PLATFORMS = ['linux/amd64', 'linux/arm64'] as const

export const buildSchema = z.strictObject({
  base_image: imageReferenceSchema.default('node:20-bookworm-slim'),
  gpu: z.boolean().default(false),
  gpu_base_image: imageReferenceSchema.default('nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04'),
  platform: z.enum(PLATFORMS).default('linux/amd64'),
  env: z
    .record(z.string().regex(ENV_NAME, 'an environment variable name such as "LOG_LEVEL"'), z.string())
    .default({})
    .describe('Extra environment variables baked into the image.'),
})

export const registrySchema = z.strictObject({
  host: z.string().regex(REGISTRY_HOST, 'a registry host such as "ghcr.io" or "127.0.0.1:5000"'),
  repository: z.string().regex(REPOSITORY, 'a repository path such as "team/iris-classifier"'),
})

export const featureBaselineSchema = z.strictObject({
  input: z.string().min(1).describe('The input tensor this feature belongs to.'),
  index: z.number().int().min(0).describe('Position of the feature along the last dimension.'),
  name: z.string().optional(),
  mean: z.number(),
  std: z.number().min(0),
  min: z.number(),
  max: z.number(),
  bin_edges: z.array(z.number()).min(2).describe('Histogram bin edges of the reference data (ascending).'),
  bin_fractions: z.array(z.number().min(0).max(1)).min(1).describe('Fraction of reference rows in each bin.'),
})

export const monitoringSchema = z.strictObject({
  drift: z
    .strictObject({
      threshold: z
        .number()
        .positive()
        .default(0.2)
        .describe('Population stability index above which drift is reported.'),
      window: positiveInt.default(1000).describe('Rows in the sliding window compared with the baseline.'),
      reference_rows: positiveInt
        .optional()
        .describe(
          'Without a monitoring.baseline: the first N rows served become the reference that drift is measured against (opt-in; `mlship baseline` from training data is better).',
        ),
    })
    .default({threshold: 0.2, window: 1000}),
  baseline: z
    .strictObject({
      source: z.string().optional().describe('The data file the baseline was computed from.'),
      rows: z.number().int().nonnegative().optional(),
      features: z.array(featureBaselineSchema),
      outputs: z.array(featureBaselineSchema).optional(),
    })
    .optional(),
  prediction_log: z
    .strictObject({
      enabled: z.boolean().default(false),
      path: z
        .string()
        .min(1)
        .refine(staysInside, {
          error:
            'a relative path that stays inside the log directory (the model directory, or MLSHIP_DATA_DIR), e.g. "predictions.jsonl" or "logs/predictions.jsonl"',
        })
        .default('predictions.jsonl')
        .describe(
          'The JSONL file, relative to the log directory: MLSHIP_DATA_DIR where set (/var/lib/mlship in the image, a volume), else the model directory.',
        ),
      sample_rate: z.number().min(0).max(1).default(1),
    })
    .default({enabled: false, path: 'predictions.jsonl', sample_rate: 1}),
  metrics: z.boolean().default(true).describe('Expose Prometheus metrics on /metrics.'),
})

export const OPTIMIZATION_METHODS = ['graph', 'fp16', 'int8'] as const
export type OptimizationMethod = (typeof OPTIMIZATION_METHODS)[number]
/** `mlship optimize`'s accuracy gate: the least share of rows whose argmax agrees with the source model. */
export const DEFAULT_MIN_AGREEMENT = 0.99

export const outputAgreementSchema = z.strictObject({
  name: z.string().min(1),
  max_abs_diff: z.number().min(0).describe('Largest absolute difference from the source model over the rows.'),
  mean_abs_diff: z.number().min(0).describe('Mean absolute difference from the source model over the rows.'),
  argmax_agreement: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe('Share of rows whose largest value is at the same position as in the source model (classifiers).'),
  exact_agreement: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe('Share of rows with exactly the same values as the source model (integer outputs such as class ids).'),
})

export const optimizationSchema = z
  .strictObject({
    method: z.enum(OPTIMIZATION_METHODS),
    device: z.enum(['cpu', 'cuda']).default('cpu').describe('The execution provider it was optimised and checked on.'),
    source: z.strictObject({
      file: z.string().min(1).describe('The model it was made from, relative to this model.yaml where possible.'),
      sha256: z.string().regex(/^[a-f0-9]{64}$/, 'a sha256 digest: 64 lowercase hex digits'),
      version: semverSchema.optional(),
    }),
    agreement: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe(
        'The lowest agreement over the classifier (labelled) and integer outputs; absent when the model has neither.',
      ),
    rows: z.number().int().positive().describe('Rows the optimised model was checked on against the source.'),
    outputs: z.array(outputAgreementSchema),
    forced: z.boolean().optional().describe('True when --force wrote it although the agreement was below the bar.'),
    onnxruntime: z.string().optional(),
    created: z.string().optional().describe('When it was made (ISO 8601).'),
  })
  .describe('Written by `mlship optimize`: where this model came from and how closely it agrees with its source.')

// Kubernetes names (apimachinery's validation): a DNS-1123 label, a DNS-1035 label (starts with a letter: Services),
// a DNS-1123 subdomain, and the qualified names of label and annotation keys.
const DNS_1123_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/
const DNS_1035_LABEL = /^[a-z](?:[-a-z0-9]*[a-z0-9])?$/
const DNS_1123_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/
const QUALIFIED_NAME =
  /^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/
const HOSTNAME = /^(?:\*\.)?[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/
/** The longest object name mlship takes: room for the "-canary" suffix within a 63-character label. */
export const KUBERNETES_NAME_MAX = 47

export const dnsLabelSchema = z
  .string()
  .max(63)
  .regex(
    DNS_1123_LABEL,
    'a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit',
  )
const subdomainSchema = z
  .string()
  .max(253)
  .regex(DNS_1123_SUBDOMAIN, 'a DNS-1123 subdomain such as "public-gateway" or "iris.tls"')
const hostnameSchema = z
  .string()
  .max(253)
  .regex(HOSTNAME, 'a host name such as "iris.example.com" (a leading "*." for a wildcard)')
const qualifiedNameSchema = z
  .string()
  .max(316)
  .regex(QUALIFIED_NAME, 'a Kubernetes key such as "team" or "example.com/owner" (name part at most 63 characters)')
  .refine((key) => (key.split('/').at(-1)?.length ?? 0) <= 63, 'the name part of a key is at most 63 characters')
const quantitySchema = z
  .union([
    z.string().regex(new RegExp(QUANTITY_PATTERN), 'a quantity such as "500m", "2", "512Mi" or "1Gi"'),
    z.number().positive(),
  ])
  .transform(String)
  .refine(isQuantity, 'a quantity such as "500m", "2", "512Mi" or "1Gi"')

const resourceAmounts = z.strictObject({
  cpu: quantitySchema.optional().describe('CPU, e.g. "500m" or "2" (cores).'),
  memory: quantitySchema.optional().describe('Memory, e.g. "512Mi" or "2Gi".'),
})

export const AUTOSCALING_METRICS = ['requests_in_flight', 'queue_depth'] as const

export const deploySchema = z
  .strictObject({
    namespace: dnsLabelSchema.default('default').describe('The namespace of every object (it must exist).'),
    name: z
      .string()
      .max(KUBERNETES_NAME_MAX)
      .regex(DNS_1035_LABEL, 'a DNS-1035 label: lowercase letters, digits and "-", starting with a letter')
      .optional()
      .describe(
        'The name of the objects; default: the model name made a valid Kubernetes name (lowercase, "." and "_" to "-", at most 47 characters with a hash when shortened).',
      ),
    replicas: z
      .strictObject({
        min: positiveInt.default(2).describe('Fewest pods (the HorizontalPodAutoscaler never goes below).'),
        max: positiveInt.default(10).describe('Most pods; equal to min for a fixed count and no autoscaler.'),
      })
      .default({max: 10, min: 2}),
    autoscaling: z
      .strictObject({
        target_cpu_utilization: z
          .number()
          .int()
          .min(1)
          .max(100)
          .default(70)
          .describe('Average CPU utilisation (% of the CPU request) the HorizontalPodAutoscaler keeps pods at.'),
        metric: z
          .strictObject({
            name: z
              .enum(AUTOSCALING_METRICS)
              .describe(
                "One of mlship's own metrics per pod: requests_in_flight (mlship_http_requests_in_flight) or queue_depth (mlship_inference_queue_depth), served to the HPA by the Prometheus Adapter.",
              ),
            target: z.number().positive().describe('Average value per pod the autoscaler keeps, e.g. 8.'),
          })
          .optional()
          .describe('A second scaling target from the custom metrics API (needs the Prometheus Adapter).'),
      })
      .default({target_cpu_utilization: 70}),
    resources: z
      .strictObject({
        requests: resourceAmounts.default({}).describe('Default: cpu "1", memory from the model size and workers.'),
        limits: resourceAmounts
          .default({})
          .describe('Default: cpu "2", memory equal to the request. The CPU limit sets the inference workers.'),
      })
      .default({limits: {}, requests: {}}),
    gpus: z
      .number()
      .int()
      .min(0)
      .max(16)
      .optional()
      .describe('nvidia.com/gpu per pod; default 1 for a GPU image (build.gpu), 0 otherwise.'),
    ingress: z
      .strictObject({
        host: hostnameSchema.describe('The host name the Ingress answers for.'),
        class_name: subdomainSchema
          .optional()
          .describe('ingressClassName, e.g. "nginx"; default: the cluster default.'),
        tls_secret: subdomainSchema.optional().describe('A TLS Secret in the namespace: HTTPS for the host.'),
      })
      .optional()
      .describe('An Ingress (networking.k8s.io/v1) to the Service.'),
    gateway: z
      .strictObject({
        name: subdomainSchema.describe('The Gateway the HTTPRoute attaches to.'),
        namespace: dnsLabelSchema.optional().describe("The Gateway's namespace; default: deploy.namespace."),
        section_name: z.string().min(1).max(253).optional().describe('One listener of the Gateway.'),
        hostnames: z.array(hostnameSchema).optional().describe('Host names the route answers for.'),
      })
      .optional()
      .describe('A Gateway API HTTPRoute to the Service; canary rollouts (--canary) split traffic with it.'),
    network_policy: z.boolean().default(true).describe('A NetworkPolicy that admits traffic to the serving port only.'),
    api_keys_secret: subdomainSchema
      .optional()
      .describe(
        'With serving.auth on: the Secret in the namespace whose "api-keys" entry holds the API keys (one per line), mounted read-only into the pods and re-read when it changes; default: NAME-api-keys. mlship never writes it: kubectl create secret generic NAME-api-keys --from-file=api-keys=keys.txt',
      ),
    labels: z
      .record(
        qualifiedNameSchema,
        z.string().max(63).regex(LABEL_VALUE, 'a label value: at most 63 letters, digits, "-", "_", "."'),
      )
      .default({})
      .describe('Extra labels on every object and pod.'),
    annotations: z
      .record(qualifiedNameSchema, z.string())
      .default({})
      .describe('Extra annotations on every object and pod.'),
  })
  .superRefine((deploy, context) => {
    if (deploy.replicas.min > deploy.replicas.max) {
      context.addIssue({
        code: 'custom',
        message: `replicas.min (${deploy.replicas.min}) is above replicas.max (${deploy.replicas.max})`,
        path: ['replicas', 'min'],
      })
    }
    for (const kind of ['cpu', 'memory'] as const) {
      const request = deploy.resources.requests[kind]
      const limit = deploy.resources.limits[kind]
      if (request === undefined || limit === undefined) continue
      if (parseQuantity(request)! > parseQuantity(limit)!) {
        context.addIssue({
          code: 'custom',
          message: `the ${kind} request (${request}) is above its limit (${limit})`,
          path: ['resources', 'requests', kind],
        })
      }
    }
  })

export const modelConfigSchema = z
  .strictObject({
    name: imageNameSchema.describe('The model name; also the image name.'),
    version: semverSchema.describe('The model version (semver); also the image tag.'),
    description: z.string().optional(),
    model: z.strictObject({
      file: z.string().min(1).describe('Path to the model file, relative to model.yaml.'),
      format: z.literal('onnx').default('onnx'),
    }),
    signature: signatureSchema.optional().describe('Inputs and outputs; read from the model where absent.'),
    serving: servingSchema.default(() => servingSchema.parse({})),
    build: buildSchema.default(() => buildSchema.parse({})),
    registry: registrySchema.optional(),
    monitoring: monitoringSchema.default(() => monitoringSchema.parse({})),
    optimization: optimizationSchema.optional(),
    deploy: deploySchema
      .optional()
      .describe('How `mlship deploy` runs the model on Kubernetes; every key has a default.'),
    experiment: experimentSchema
      .optional()
      .describe('An A/B test: several variants of this model served by one server, compared on live traffic.'),
  })
  .superRefine((config, context) => {
    const gpus = config.deploy?.gpus
    if (gpus !== undefined && gpus > 0 && !config.build.gpu) {
      context.addIssue({
        code: 'custom',
        message: `${gpus} GPU(s) for a CPU image: the image runs on the CPU unless build.gpu is true`,
        path: ['deploy', 'gpus'],
      })
    }
    if (gpus === 0 && config.build.gpu) {
      context.addIssue({
        code: 'custom',
        message: 'a GPU image (build.gpu: true) needs at least 1 GPU: its server refuses to start without CUDA',
        path: ['deploy', 'gpus'],
      })
    }
  })
  .describe('mlship model.yaml: how a model is served, built and shipped.')

export type ModelConfigInput = z.input<typeof modelConfigSchema>
export type ModelConfig = z.output<typeof modelConfigSchema>
export type Signature = z.output<typeof signatureSchema>
export type InputSpec = z.output<typeof inputSpecSchema>
export type OutputSpec = z.output<typeof outputSpecSchema>
export type ImagePreprocess = z.output<typeof imagePreprocessSchema>
export type TextPreprocess = z.output<typeof textPreprocessSchema>
export type Postprocess = z.output<typeof postprocessSchema>
export type Interpolation = (typeof INTERPOLATIONS)[number]
export type Dimension = number | string
export type ServingConfig = z.output<typeof servingSchema>
export type AuthConfig = z.output<typeof authSchema>
export type MonitoringConfig = z.output<typeof monitoringSchema>
export type FeatureBaseline = z.output<typeof featureBaselineSchema>
export type Optimization = z.output<typeof optimizationSchema>
export type DeployConfig = z.output<typeof deploySchema>

/** A relative file path that does not climb out of the folder it is resolved against (no "..", not absolute). */
function staysInside(file: string): boolean {
  const slashed = file.replaceAll('\\', '/')
  if (slashed.startsWith('/') || /^[A-Za-z]:/.test(slashed)) return false
  const normal = path.posix.normalize(slashed)
  return normal !== '..' && !normal.startsWith('../') && normal !== '.' && !normal.endsWith('/')
}

/** The JSON Schema of model.yaml, as published in schema/model.schema.json. */
export function modelConfigJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(modelConfigSchema, {io: 'input', unrepresentable: 'any'}) as Record<string, unknown>
  return {$id: SCHEMA_URL, title: 'mlship model.yaml', ...schema}
}
