export * from './ledger.js';
export * from './audit.js';
export * from './recon.js';
export * from './fees.js';
export * from './pan.js';
export { minorUnit } from './currency.js';
