import {createRequire as __mlshipCreateRequire} from 'node:module';const require=__mlshipCreateRequire(import.meta.url);
import{a as s}from"./chunk-F2CATGQQ.js";var t=class extends Error{static{s(this,"InputError")}statusCode;constructor(e,r){super(r),this.statusCode=e,this.name="InputError"}};export{t as a};
