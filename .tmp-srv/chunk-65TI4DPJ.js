import {createRequire as __mlshipCreateRequire} from 'node:module';const require=__mlshipCreateRequire(import.meta.url);
import{a as e}from"./chunk-F2CATGQQ.js";import t from"node:path";var l="model.yaml";function i(r){let o=t.resolve(r);return/\.ya?ml$/i.test(o)?o:t.join(o,l)}e(i,"resolveConfigFile");export{l as a,i as b};
