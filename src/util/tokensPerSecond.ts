/**
 * Decode speed for people: whole tokens from 100 a second, three significant digits below, so that a 7B on a laptop
 * CPU (about one token a second) reads "1.16 tok/s" rather than "1" for both models.
 */
export const tokensPerSecondText = (perSecond: number) =>
  perSecond >= 100 ? perSecond.toFixed(0) : perSecond.toPrecision(3);
