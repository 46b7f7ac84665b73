/** The entry cluster.ts forks from the sources (tsx) or dist/: one of the cluster's other HTTP processes. */
import {runChild} from './cluster-child.js'

void runChild()
