/**
 * Shared by the *.integration.test.ts files that drive a headless browser. It decides skip-versus-fail in one place,
 * as the Docker tests do: a developer machine without Chromium skips them; CI (CI set) without it fails loudly.
 */
import {inCi} from '../../docker/test-support/engine.js'
import {type HeadlessChromium, launchChromium} from '../chromium.js'

export interface ChromiumForTests {
  chromium?: HeadlessChromium
  /** Why the tests skip (only ever set outside CI). */
  skipReason?: string
}

/** Launches Chromium; outside CI a missing browser means "skip", in CI it throws. Close it in afterAll. */
export async function chromiumForTests(): Promise<ChromiumForTests> {
  try {
    return {chromium: await launchChromium()}
  } catch (error) {
    if (inCi()) {
      throw new Error(
        `CI is set and Chromium cannot be launched (${(error as Error).message}). Source scripts/test-browser.sh first (.ci/run does).`,
        {cause: error},
      )
    }
    return {skipReason: `no Chromium (${(error as Error).message}); these tests run in CI`}
  }
}
