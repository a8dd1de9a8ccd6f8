/** Child process for the cross-process syncMirror test: prints the mirror path. */
import { syncMirror } from "../../src/git/mirror";

const [reposDir, url] = process.argv.slice(2);
console.log(await syncMirror({ reposDir, url }));
