/**
 * Integration-test harness: real peers on loopback.
 *
 * <ul>
 *   <li>{@link dev.sluice.lab.PostfixInstance} (main code, shared with {@code sluice lab --backend
 *       postfix}): a throwaway Postfix (smtpd, queue, Maildir, maillog) on a 127.0.0.0/8 address,
 *       with back pressure on demand; {@link dev.sluice.testing.PostfixPair} two of them;
 *   <li>{@link dev.sluice.testing.SmtpClients}: swaks, Python smtplib and Postfix smtp-source run
 *       as processes, with parsed outcomes;
 *   <li>{@link dev.sluice.lab.ExternalCommand} (main code): process runner with a hard timeout.
 * </ul>
 *
 * <p>Tests using them are tagged {@code @Tag("integration")} and run by {@code ./test} (as root);
 * plain {@code mvn test} excludes them.
 */
package dev.sluice.testing;
