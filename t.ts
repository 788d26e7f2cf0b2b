import { dampedInverse } from './src/linalg/inverse';
(async () => {
  const n = 3; const h = [4, 1, 0, 1, 3, 0.5, 0, 0.5, 2];
  const inv = await dampedInverse(h, n, 0);
  const p = new Array(9).fill(0); for (let i=0;i<3;i++) for (let j=0;j<3;j++) for (let k=0;k<3;k++) p[i*3+j]+=h[i*3+k]*inv[k*3+j];
  console.log(p.map(x=>x.toFixed(5)).join(' '));
})();
