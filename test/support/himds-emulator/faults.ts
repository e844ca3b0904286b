// The failure switches of the HIMDS emulator: what each one makes the fake agent do wrong.

export interface EmulatorFaults {
  /** Milliseconds to wait before answering any request; 0 answers at once. */
  slow: number;
  /** Every answer is 500 with a JSON error body. */
  status500: boolean;
  /** Every 200 answer carries a truncated, unparseable JSON body. */
  malformedJson: boolean;
  /** The socket is destroyed without any answer. */
  dropConnection: boolean;
  /** 200 answers are labelled text/plain although the body is JSON. */
  notJsonContentType: boolean;
  /** Token bodies carry expires_in / expires_on / not_before as JSON numbers, not strings. */
  tokenNumbersAsNumbers: boolean;
  /** The challenge realm names a .key file in a directory outside tokenDirectory (the file exists and holds a valid secret). */
  realmOutsideDirectory: boolean;
  /** The realm path reaches outside tokenDirectory through `..` (`<tokenDirectory>/../<elsewhere>/<name>.key`). */
  realmTraversal: boolean;
  /** The challenge file in tokenDirectory does not end in .key. */
  nonKeyFile: boolean;
  /** The challenge .key file is larger than 4096 bytes (its whole content is still a valid secret). */
  oversizeKey: boolean;
  /** The .key file in tokenDirectory is a symlink to a file elsewhere holding a valid secret. */
  symlinkKey: boolean;
  /** The right secret is rejected with another 401 challenge. */
  wrongSecret: boolean;
  /** 401 with `WWW-Authenticate: Basic` and no realm. */
  missingRealm: boolean;
  /** 401 with no WWW-Authenticate header at all. */
  noChallengeHeader: boolean;
}

/** A well-behaved agent: every switch off. */
export function noFaults(): EmulatorFaults {
  return {
    slow: 0,
    status500: false,
    malformedJson: false,
    dropConnection: false,
    notJsonContentType: false,
    tokenNumbersAsNumbers: false,
    realmOutsideDirectory: false,
    realmTraversal: false,
    nonKeyFile: false,
    oversizeKey: false,
    symlinkKey: false,
    wrongSecret: false,
    missingRealm: false,
    noChallengeHeader: false,
  };
}
