// The few functions of jStat (https://github.com/jstat/jstat) mlship uses: it ships no type declarations.
declare module 'jstat' {
  interface Distribution {
    cdf(x: number, ...parameters: number[]): number
    pdf(x: number, ...parameters: number[]): number
    inv(p: number, ...parameters: number[]): number
  }
  const jStat: {
    normal: Distribution
    studentt: Distribution
    chisquare: Distribution
  }
  export default jStat
}
