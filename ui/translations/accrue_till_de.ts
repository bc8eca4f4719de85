<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="de_DE">
<context>
    <name>QObject</name>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="43"/>
        <source>never</source>
        <translation>nie</translation>
    </message>
    <message numerus="yes">
        <location filename="../src/LoyaltyPanel.cpp" line="45"/>
        <source>%n s ago</source>
        <translation>
            <numerusform>vor %n s</numerusform>
            <numerusform>vor %n s</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../src/LoyaltyPanel.cpp" line="46"/>
        <source>%n min ago</source>
        <translation>
            <numerusform>vor %n min</numerusform>
            <numerusform>vor %n min</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../src/LoyaltyPanel.cpp" line="47"/>
        <source>%n h ago</source>
        <translation>
            <numerusform>vor %n h</numerusform>
            <numerusform>vor %n h</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../src/LoyaltyPanel.cpp" line="48"/>
        <source>%n days ago</source>
        <translation>
            <numerusform>vor %n Tag</numerusform>
            <numerusform>vor %n Tagen</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../src/TillSession.cpp" line="64"/>
        <source>The loyalty service refused the request.</source>
        <translation>Der Treuedienst hat die Anfrage abgelehnt.</translation>
    </message>
</context>
<context>
    <name>accrue::till::AgentConnection</name>
    <message>
        <location filename="../src/AgentConnection.cpp" line="55"/>
        <source>Not connected to the loyalty service.</source>
        <translation>Keine Verbindung zum Treuedienst.</translation>
    </message>
    <message>
        <location filename="../src/AgentConnection.cpp" line="75"/>
        <source>The connection to the loyalty service was lost.</source>
        <translation>Die Verbindung zum Treuedienst wurde unterbrochen.</translation>
    </message>
    <message>
        <location filename="../src/AgentConnection.cpp" line="87"/>
        <source>The loyalty service is not reachable.</source>
        <translation>Der Treuedienst ist nicht erreichbar.</translation>
    </message>
    <message>
        <location filename="../src/AgentConnection.cpp" line="136"/>
        <source>The loyalty service did not answer in time.</source>
        <translation>Der Treuedienst hat nicht rechtzeitig geantwortet.</translation>
    </message>
</context>
<context>
    <name>accrue::till::EnrollDialog</name>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="78"/>
        <source>Enroll a new member</source>
        <translation>Neues Mitglied anmelden</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="86"/>
        <source>First name or nickname</source>
        <translation>Vorname oder Spitzname</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="87"/>
        <source>+48 600 000 000</source>
        <translation>+49 151 0000000</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="88"/>
        <source>name@example.com</source>
        <translation>name@beispiel.de</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="89"/>
        <source>Scan or type the new card</source>
        <translation>Neue Karte scannen oder eintippen</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="90"/>
        <source>Accepts the programme&apos;s terms (required)</source>
        <translation>Akzeptiert die Teilnahmebedingungen (erforderlich)</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="91"/>
        <source>Offers by e-mail</source>
        <translation>Angebote per E-Mail</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="92"/>
        <source>Offers by text message</source>
        <translation>Angebote per SMS</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="93"/>
        <source>Name</source>
        <translation>Name</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="94"/>
        <source>Phone</source>
        <translation>Telefon</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="95"/>
        <source>E-mail</source>
        <translation>E-Mail</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="96"/>
        <source>Card</source>
        <translation>Karte</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="101"/>
        <source>Enroll</source>
        <translation>Anmelden</translation>
    </message>
</context>
<context>
    <name>accrue::till::LoyaltyPanel</name>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="145"/>
        <source>Scan the card, or type phone, e-mail or card number</source>
        <translation>Karte scannen oder Telefon, E-Mail bzw. Kartennummer eingeben</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="147"/>
        <source>Identify (F2)</source>
        <translation>Erkennen (F2)</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="158"/>
        <source>Redeem (F6)</source>
        <translation>Einlösen (F6)</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="159"/>
        <source>Enroll (F7)</source>
        <translation>Anmelden (F7)</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="160"/>
        <source>Clear (Esc)</source>
        <translation>Leeren (Esc)</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="222"/>
        <source>%1 points redeemed: %2 off this sale.</source>
        <translation>%1 Punkte eingelöst: %2 Rabatt auf diesen Einkauf.</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="228"/>
        <source>%1 points added.</source>
        <translation>%1 Punkte gutgeschrieben.</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="232"/>
        <source>Enrolled. The card works now; the membership is confirmed when the store is online.</source>
        <translation>Angemeldet. Die Karte gilt sofort; die Mitgliedschaft wird bestätigt, sobald die Filiale online ist.</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="234"/>
        <source>Enrolled.</source>
        <translation>Angemeldet.</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="266"/>
        <source>No points available to redeem.</source>
        <translation>Keine Punkte zum Einlösen verfügbar.</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="304"/>
        <source>No customer</source>
        <translation>Kein Kunde</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="307"/>
        <source>Looking up…</source>
        <translation>Suche …</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="311"/>
        <source>✔ New member (pending confirmation)</source>
        <translation>✔ Neues Mitglied (Bestätigung ausstehend)</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="312"/>
        <source>✔ Member</source>
        <translation>✔ Mitglied</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="316"/>
        <source>? Not a member</source>
        <translation>? Kein Mitglied</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="320"/>
        <source>✖ BLOCKED</source>
        <translation>✖ GESPERRT</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="329"/>
        <source>%1 points</source>
        <translation>%1 Punkte</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="331"/>
        <source>Enroll the customer with F7, or go on without points.</source>
        <translation>Kunden mit F7 anmelden oder ohne Punkte fortfahren.</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="333"/>
        <source>This card cannot earn or redeem points. Refer the customer to customer service.</source>
        <translation>Mit dieser Karte können keine Punkte gesammelt oder eingelöst werden. Bitte an den Kundenservice verweisen.</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="337"/>
        <source>+ %1 pending</source>
        <translation>+ %1 vorgemerkt</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="330"/>
        <source>%1 reached</source>
        <translation>%1 erreicht</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="333"/>
        <source>Confirmed when the store is online</source>
        <translation>Wird bestätigt, sobald die Filiale online ist</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="342"/>
        <source>%1 points expire on %2</source>
        <translation>%1 Punkte verfallen am %2</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="351"/>
        <source>As a member, this sale would earn %1 points</source>
        <translation>Als Mitglied brächte dieser Einkauf %1 Punkte</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="353"/>
        <source>This sale earns %1 points</source>
        <translation>Dieser Einkauf bringt %1 Punkte</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="364"/>
        <source>Loyalty service not running on this till: trying again…</source>
        <translation>Treuedienst auf dieser Kasse nicht erreichbar: neuer Versuch …</translation>
    </message>
    <message numerus="yes">
        <location filename="../src/LoyaltyPanel.cpp" line="366"/>
        <source>Offline: points are kept and sent later. Last sync %1, %n event(s) queued.</source>
        <translation>
            <numerusform>Offline: Punkte werden gespeichert und später übertragen. Letzter Abgleich %1, %n Vorgang wartet.</numerusform>
            <numerusform>Offline: Punkte werden gespeichert und später übertragen. Letzter Abgleich %1, %n Vorgänge warten.</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>accrue::till::RedeemDialog</name>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="55"/>
        <source>Redeem points</source>
        <translation>Punkte einlösen</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="57"/>
        <source>Available: %1 points</source>
        <translation>Verfügbar: %1 Punkte</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="62"/>
        <source> points</source>
        <translation> Punkte</translation>
    </message>
    <message>
        <location filename="../src/LoyaltyPanel.cpp" line="64"/>
        <source>Redeem</source>
        <translation>Einlösen</translation>
    </message>
</context>
<context>
    <name>accrue::till::TillSession</name>
    <message>
        <location filename="../src/TillSession.cpp" line="286"/>
        <source>Enter the number of points to redeem.</source>
        <translation>Anzahl der einzulösenden Punkte eingeben.</translation>
    </message>
    <message>
        <location filename="../src/TillSession.cpp" line="330"/>
        <source>The customer has to accept the programme&apos;s terms.</source>
        <translation>Der Kunde muss die Teilnahmebedingungen akzeptieren.</translation>
    </message>
    <message>
        <location filename="../src/TillSession.cpp" line="345"/>
        <source>Enter a card number, a phone number or an e-mail address.</source>
        <translation>Kartennummer, Telefonnummer oder E-Mail-Adresse eingeben.</translation>
    </message>
</context>
</TS>
