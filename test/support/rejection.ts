// The error a promise rejects with, checked to be of the expected type: for tests of failure paths.
import { expect } from 'chai';

export async function rejectionOf<T extends Error>(promise: Promise<unknown>, type: abstract new (...args: never[]) => T): Promise<T> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(type);
    return error as T;
  }
  throw new Error(`expected a ${type.name}, but the promise resolved`);
}
