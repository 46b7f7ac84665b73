import {createRequire as __mlshipCreateRequire} from 'node:module';const require=__mlshipCreateRequire(import.meta.url);
import{a as t}from"./chunk-F2CATGQQ.js";var o=["float32","float64","float16","int8","uint8","int16","uint16","int32","uint32","int64","uint64","bool","string"];function a(n){return n.variants.find(i=>i.model===".")}t(a,"primaryVariant");export{o as a,a as b};
