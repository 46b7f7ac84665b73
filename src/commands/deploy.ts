import * as Flags from '@oclif/core/flags'
import path from 'node:path'

import {BaseCommand} from '../base-command.js'
import type {ApplyProgress} from '../deploy/cluster.js'
import {type DeploySummary, deploy} from '../deploy/deploy.js'
import {dirImageResolver, fixedImageResolver} from '../deploy/image.js'
import {yamlStream} from '../deploy/manifest-files.js'
import type {KubernetesObject} from '../deploy/objects.js'
import {applyProgressLine, deploySummaryText} from '../deploy/report-text.js'
import type {DeployFormat, RolloutAction} from '../deploy/rollout.js'
import {ConfigError} from '../errors.js'
import {modelDirArg} from '../flags/model-dir.js'
import {credentialsFromFlags, registryFlags} from '../flags/registry.js'
import {imageReferenceSchema} from '../config/schema.js'

/** `--json`: a Kubernetes List of the objects (what `kubectl apply -f` takes), with mlship's summary beside it. */
export interface DeployCommandResult {
  apiVersion: 'v1'
  kind: 'List'
  items: KubernetesObject[]
  mlship: DeploySummary
}

export default class Deploy extends BaseCommand<DeployCommandResult> {
  static override args = {
    dir: modelDirArg(),
  }

  static override description = `Renders the Kubernetes objects that run the model's image on a cluster, from model.yaml and its optional deploy: section: a Deployment (the image by registry digest, probes timed from the model's measured load time, a preStop pause and grace period for draining, the restricted security context, resources, topology spread, Prometheus annotations, nvidia.com/gpu for GPU images), a Service, a HorizontalPodAutoscaler, a PodDisruptionBudget, a NetworkPolicy, and an Ingress or Gateway API HTTPRoute when deploy: asks for one. --format kserve renders a KServe InferenceService instead.

Canary rollouts: --canary N sends N% of the traffic to this model.yaml's version and the rest to the stable one (a second Deployment and a weighted HTTPRoute, or KServe's canaryTrafficPercent); --promote sends all traffic to the canary, --abort goes back. What is stable and what is a canary is read from the objects written (--output folder) or applied (--apply) before.

Writes one YAML file per object to --output (default: deploy/ beside model.yaml); --print writes a YAML stream to stdout instead; --json a Kubernetes List. --apply applies them with server-side apply to the kubeconfig's current (or --context) cluster and waits until the rollout is ready (exit 5 past --timeout).

${BaseCommand.exitCodesHelp}`

  static override examples = [
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris',
      description: 'Write deploy/*.yaml beside model.yaml.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --print | kubectl apply -f -',
      description: 'Apply with kubectl.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --apply --timeout 600',
      description: 'Apply to the current kubeconfig context and wait for the rollout.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --canary 10 --apply',
      description: "10% of the traffic to model.yaml's (new) version.",
    },
    {command: '<%= config.bin %> <%= command.id %> examples/iris --promote --apply', description: 'All traffic to it.'},
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --format kserve --print',
      description: 'A KServe InferenceService.',
    },
  ]

  static override flags = {
    ...registryFlags,
    abort: Flags.boolean({
      description: 'End the canary: all traffic back to the stable version, the canary removed.',
      exclusive: ['canary', 'promote'],
      helpGroup: 'ROLLOUT',
    }),
    apply: Flags.boolean({
      description: 'Apply to the cluster (server-side apply) and wait for the rollout; no files unless --output.',
      helpGroup: 'CLUSTER',
    }),
    canary: Flags.integer({
      description: "Send this percentage (1-99) of the traffic to model.yaml's version, the rest to the stable one.",
      exclusive: ['promote', 'abort'],
      helpGroup: 'ROLLOUT',
      max: 99,
      min: 1,
    }),
    context: Flags.string({description: 'kubeconfig context (default: the current one).', helpGroup: 'CLUSTER'}),
    format: Flags.string({
      default: 'kubernetes',
      description: 'kubernetes: Deployment, Service, HPA...; kserve: a KServe InferenceService.',
      options: ['kubernetes', 'kserve'],
    }),
    image: Flags.string({
      description: 'Deploy this image reference instead of resolving the version in the registry (prefer @sha256:...).',
    }),
    kubeconfig: Flags.string({
      description: 'kubeconfig file (default: KUBECONFIG, then ~/.kube/config).',
      helpGroup: 'CLUSTER',
    }),
    namespace: Flags.string({char: 'n', description: 'Namespace (default: deploy.namespace, else "default").'}),
    output: Flags.string({
      char: 'o',
      description: 'Folder for the manifest files (default: deploy/ beside model.yaml).',
    }),
    print: Flags.boolean({description: 'Write the manifests to stdout as one YAML stream; no files.'}),
    promote: Flags.boolean({
      description: 'End the canary: all traffic to the canary version, which becomes the stable one.',
      exclusive: ['canary', 'abort'],
      helpGroup: 'ROLLOUT',
    }),
    timeout: Flags.integer({
      default: 300,
      description: 'Seconds --apply waits for the rollout to be ready (exit 5 past it).',
      helpGroup: 'CLUSTER',
      min: 1,
    }),
  }

  static override summary = 'Deploy to Kubernetes or KServe: manifests, apply, canary rollouts.'

  async run(): Promise<DeployCommandResult> {
    const {args, flags} = await this.parse(Deploy)
    if (flags.print && this.jsonEnabled()) {
      throw new ConfigError('--print and --json both write to stdout: pick one', {code: 'FLAGS_EXCLUSIVE'})
    }
    if (flags.image && !imageReferenceSchema.safeParse(flags.image).success) {
      throw new ConfigError(`--image "${flags.image}" is not an image reference`, {
        code: 'IMAGE_FLAG_INVALID',
        suggestions: ['Pass --image like ghcr.io/acme/iris-classifier@sha256:<64 hex digits>.'],
      })
    }
    const action: RolloutAction =
      flags.canary === undefined
        ? flags.promote
          ? {type: 'promote'}
          : flags.abort
            ? {type: 'abort'}
            : {type: 'deploy'}
        : {percent: flags.canary, type: 'canary'}

    const images = flags.image
      ? fixedImageResolver(flags.image)
      : dirImageResolver({
          credentials: (host) => credentialsFromFlags(host, flags),
          dir: args.dir,
          registry: flags.registry,
        })
    const progress = this.jsonEnabled()
      ? undefined
      : (event: ApplyProgress) => this.logToStderr(applyProgressLine(event))
    // The Kubernetes client (half a second to load) only for --apply: rendering manifests does not need it.
    const kube = flags.apply ? await import('../deploy/kube-cluster.js') : undefined
    const {objects, summary} = await deploy({
      action,
      ...(kube
        ? {
            apply: {
              cluster: kube.kubeconfigCluster({context: flags.context, kubeconfig: flags.kubeconfig}),
              onProgress: progress,
              timeoutMs: flags.timeout * 1000,
            },
          }
        : {}),
      dir: args.dir,
      format: flags.format as DeployFormat,
      images,
      namespace: flags.namespace,
      outputDir: flags.output ? path.resolve(flags.output) : undefined,
      write: !flags.print && (!flags.apply || flags.output !== undefined),
    })

    if (flags.print) process.stdout.write(yamlStream(objects))
    for (const warning of summary.warnings) this.warn(warning)
    if (!flags.print) this.log(deploySummaryText(summary))
    return {apiVersion: 'v1', items: objects, kind: 'List', mlship: summary}
  }
}
