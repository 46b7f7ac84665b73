import {createRequire as __mlshipCreateRequire} from 'node:module';const require=__mlshipCreateRequire(import.meta.url);
import{a as t}from"./chunk-F2CATGQQ.js";import o from"node:os";var i=5;function y(r=i){try{o.getPriority()<r&&o.setPriority(r)}catch{}}t(y,"lowerThreadPriority");export{y as a};
