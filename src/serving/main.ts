/** The image's server as an ES module (serve-image.ts): what the edge node folder runs, and tests from the sources. */
import {serveImage} from './serve-image.js'

void serveImage()
