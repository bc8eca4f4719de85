<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="de_DE">
<context>
    <name>QObject</name>
    <message>
        <source>never</source>
        <translation>nie</translation>
    </message>
    <message numerus="yes">
        <source>%n s ago</source>
        <translation>
            <numerusform>vor %n s</numerusform>
            <numerusform>vor %n s</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n min ago</source>
        <translation>
            <numerusform>vor %n min</numerusform>
            <numerusform>vor %n min</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n h ago</source>
        <translation>
            <numerusform>vor %n h</numerusform>
            <numerusform>vor %n h</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n days ago</source>
        <translation>
            <numerusform>vor %n Tag</numerusform>
            <numerusform>vor %n Tagen</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>accrue::till::AgentConnection</name>
    <message>
        <source>Not connected to the loyalty service.</source>
        <translation>Keine Verbindung zum Treuedienst.</translation>
    </message>
    <message>
        <source>The connection to the loyalty service was lost.</source>
        <translation>Die Verbindung zum Treuedienst wurde unterbrochen.</translation>
    </message>
    <message>
        <source>The loyalty service is not reachable.</source>
        <translation>Der Treuedienst ist nicht erreichbar.</translation>
    </message>
    <message>
        <source>The loyalty service did not answer in time.</source>
        <translation>Der Treuedienst hat nicht rechtzeitig geantwortet.</translation>
    </message>
</context>
<context>
    <name>accrue::till::CouponDialog</name>
    <message>
        <source>Coupon</source>
        <translation>Gutschein</translation>
    </message>
    <message>
        <source>Scan the coupon, or type its code</source>
        <translation>Gutschein scannen oder Code eintippen</translation>
    </message>
    <message>
        <source>On this sale:</source>
        <translation>In diesem Verkauf:</translation>
    </message>
    <message>
        <source>Take off the sale</source>
        <translation>Aus dem Verkauf nehmen</translation>
    </message>
    <message>
        <source>Apply</source>
        <translation>Anwenden</translation>
    </message>
    <message>
        <source>Her rewards:</source>
        <translation>Ihre Prämien:</translation>
    </message>
    <message numerus="yes">
        <source>%1: %2 points</source>
        <translation>
            <numerusform>%1: %2 Punkt</numerusform>
            <numerusform>%1: %2 Punkte</numerusform>
        </translation>
    </message>
    <message>
        <source>No rewards to show.</source>
        <translation>Keine Prämien vorhanden.</translation>
    </message>
    <message>
        <source>Identify the member to see her rewards.</source>
        <translation>Mitglied identifizieren, um die Prämien zu sehen.</translation>
    </message>
    <message>
        <source>Claim for her</source>
        <translation>Für sie einlösen</translation>
    </message>
    <message>
        <source>Claimed: hand over %1.</source>
        <translation>Eingelöst: %1 aushändigen.</translation>
    </message>
    <message>
        <source>Claimed: %1. Her coupon reaches her app when the store is back online.</source>
        <translation>Eingelöst: %1. Ihr Gutschein erscheint in ihrer App, sobald die Filiale wieder online ist.</translation>
    </message>
    <message>
        <source>Claimed: %1. Coupon code %2</source>
        <translation>Eingelöst: %1. Gutscheincode %2</translation>
    </message>
</context>
<context>
    <name>accrue::till::EnrollDialog</name>
    <message>
        <source>Enroll a new member</source>
        <translation>Neues Mitglied anmelden</translation>
    </message>
    <message>
        <source>First name or nickname</source>
        <translation>Vorname oder Spitzname</translation>
    </message>
    <message>
        <source>+48 600 000 000</source>
        <translation>+49 151 0000000</translation>
    </message>
    <message>
        <source>name@example.com</source>
        <translation>name@beispiel.de</translation>
    </message>
    <message>
        <source>Scan or type the new card</source>
        <translation>Neue Karte scannen oder eintippen</translation>
    </message>
    <message>
        <source>Accepts the programme&apos;s terms (required)</source>
        <translation>Akzeptiert die Teilnahmebedingungen (erforderlich)</translation>
    </message>
    <message>
        <source>Offers by e-mail</source>
        <translation>Angebote per E-Mail</translation>
    </message>
    <message>
        <source>Offers by text message</source>
        <translation>Angebote per SMS</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Name</translation>
    </message>
    <message>
        <source>Phone</source>
        <translation>Telefon</translation>
    </message>
    <message>
        <source>E-mail</source>
        <translation>E-Mail</translation>
    </message>
    <message>
        <source>Card</source>
        <translation>Karte</translation>
    </message>
    <message>
        <source>Enroll</source>
        <translation>Anmelden</translation>
    </message>
</context>
<context>
    <name>accrue::till::LoyaltyPanel</name>
    <message>
        <source>Scan the card, or type phone, e-mail or card number</source>
        <translation>Karte scannen oder Telefon, E-Mail bzw. Kartennummer eingeben</translation>
    </message>
    <message>
        <source>Identify (F2)</source>
        <translation>Erkennen (F2)</translation>
    </message>
    <message>
        <source>Redeem (F6)</source>
        <translation>Einlösen (F6)</translation>
    </message>
    <message>
        <source>Enroll (F7)</source>
        <translation>Anmelden (F7)</translation>
    </message>
    <message>
        <source>Clear (Esc)</source>
        <translation>Leeren (Esc)</translation>
    </message>
    <message numerus="yes">
        <source>%1 points redeemed: %2 off this sale.</source>
        <translation>
            <numerusform>%1 Punkt eingelöst: %2 Rabatt auf diesen Verkauf.</numerusform>
            <numerusform>%1 Punkte eingelöst: %2 Rabatt auf diesen Verkauf.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%1 points added.</source>
        <translation>
            <numerusform>%1 Punkt gutgeschrieben.</numerusform>
            <numerusform>%1 Punkte gutgeschrieben.</numerusform>
        </translation>
    </message>
    <message>
        <source>Enrolled. The card works now; the membership is confirmed when the store is online.</source>
        <translation>Angemeldet. Die Karte gilt sofort; die Mitgliedschaft wird bestätigt, sobald die Filiale online ist.</translation>
    </message>
    <message>
        <source>Enrolled.</source>
        <translation>Angemeldet.</translation>
    </message>
    <message>
        <source>No points available to redeem.</source>
        <translation>Keine Punkte zum Einlösen verfügbar.</translation>
    </message>
    <message>
        <source>No customer</source>
        <translation>Kein Kunde</translation>
    </message>
    <message>
        <source>Looking up…</source>
        <translation>Suche …</translation>
    </message>
    <message>
        <source>✔ New member (pending confirmation)</source>
        <translation>✔ Neues Mitglied (Bestätigung ausstehend)</translation>
    </message>
    <message>
        <source>✔ Member</source>
        <translation>✔ Mitglied</translation>
    </message>
    <message>
        <source>? Not a member</source>
        <translation>? Kein Mitglied</translation>
    </message>
    <message>
        <source>✖ BLOCKED</source>
        <translation>✖ GESPERRT</translation>
    </message>
    <message numerus="yes">
        <source>%1 points</source>
        <translation>
            <numerusform>%1 Punkt</numerusform>
            <numerusform>%1 Punkte</numerusform>
        </translation>
    </message>
    <message>
        <source>Enroll the customer with F7, or go on without points.</source>
        <translation>Kunden mit F7 anmelden oder ohne Punkte fortfahren.</translation>
    </message>
    <message>
        <source>This card cannot earn or redeem points. Refer the customer to customer service.</source>
        <translation>Mit dieser Karte können keine Punkte gesammelt oder eingelöst werden. Bitte an den Kundenservice verweisen.</translation>
    </message>
    <message numerus="yes">
        <source>+ %1 pending</source>
        <translation>
            <numerusform>+ %1 ausstehend</numerusform>
            <numerusform>+ %1 ausstehend</numerusform>
        </translation>
    </message>
    <message>
        <source>%1 reached</source>
        <translation>%1 erreicht</translation>
    </message>
    <message>
        <source>Confirmed when the store is online</source>
        <translation>Wird bestätigt, sobald die Filiale online ist</translation>
    </message>
    <message numerus="yes">
        <source>%1 points expire on %2</source>
        <translation>
            <numerusform>%1 Punkt verfällt am %2</numerusform>
            <numerusform>%1 Punkte verfallen am %2</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>As a member, this sale would earn %1 points</source>
        <translation>
            <numerusform>Als Mitglied brächte dieser Einkauf %1 Punkt</numerusform>
            <numerusform>Als Mitglied brächte dieser Einkauf %1 Punkte</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>This sale earns %1 points</source>
        <translation>
            <numerusform>Dieser Einkauf bringt %1 Punkt</numerusform>
            <numerusform>Dieser Einkauf bringt %1 Punkte</numerusform>
        </translation>
    </message>
    <message>
        <source>Loyalty service not running on this till: trying again…</source>
        <translation>Treuedienst auf dieser Kasse nicht erreichbar: neuer Versuch …</translation>
    </message>
    <message numerus="yes">
        <source>%1 points available: not enough to redeem here now.</source>
        <translation>
            <numerusform>%1 Punkt verfügbar: zu wenig, um hier jetzt einzulösen.</numerusform>
            <numerusform>%1 Punkte verfügbar: zu wenig, um hier jetzt einzulösen.</numerusform>
        </translation>
    </message>
    <message>
        <source>Offline: points are kept and sent later. Last sync %1.</source>
        <translation>Offline: Punkte werden gespeichert und später gesendet. Letzter Abgleich %1.</translation>
    </message>
    <message numerus="yes">
        <source>%1 events waiting.</source>
        <translation>
            <numerusform>%1 Vorgang wartet.</numerusform>
            <numerusform>%1 Vorgänge warten.</numerusform>
        </translation>
    </message>
    <message>
        <source>%1 (−%2)</source>
        <translation>%1 (−%2)</translation>
    </message>
    <message>
        <source>%1: one item of line %2 free</source>
        <translation>%1: ein Artikel aus Position %2 gratis</translation>
    </message>
    <message>
        <source>%1: points ×%2</source>
        <translation>%1: Punkte ×%2</translation>
    </message>
    <message>
        <source>%1: hand over %2</source>
        <translation>%1: %2 aushändigen</translation>
    </message>
    <message>
        <source>Coupon (F8)</source>
        <translation>Gutschein (F8)</translation>
    </message>
    <message>
        <source>Coupon applied (store offline: confirmed later).</source>
        <translation>Gutschein angewendet (Filiale offline: wird später bestätigt).</translation>
    </message>
    <message>
        <source>Coupon applied.</source>
        <translation>Gutschein angewendet.</translation>
    </message>
    <message>
        <source>This member is blocked: coupons cannot be used.</source>
        <translation>Dieses Mitglied ist gesperrt: Gutscheine können nicht eingelöst werden.</translation>
    </message>
    <message numerus="yes">
        <source>%n coupons on this sale (F8 lists them)</source>
        <translation>
            <numerusform>%n Gutschein in diesem Verkauf (F8 zeigt ihn)</numerusform>
            <numerusform>%n Gutscheine in diesem Verkauf (F8 zeigt sie)</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>accrue::till::RedeemDialog</name>
    <message>
        <source>Redeem points</source>
        <translation>Punkte einlösen</translation>
    </message>
    <message numerus="yes">
        <source>Available: %1 points</source>
        <translation>
            <numerusform>Verfügbar: %1 Punkt</numerusform>
            <numerusform>Verfügbar: %1 Punkte</numerusform>
        </translation>
    </message>
    <message>
        <source> points</source>
        <translation> Punkte</translation>
    </message>
    <message>
        <source>Redeem</source>
        <translation>Einlösen</translation>
    </message>
    <message numerus="yes">
        <source>Redeem in steps of %1 points.</source>
        <translation>
            <numerusform>In Schritten von %1 Punkt einlösen.</numerusform>
            <numerusform>In Schritten von %1 Punkten einlösen.</numerusform>
        </translation>
    </message>
    <message>
        <source>Discount: %1</source>
        <translation>Rabatt: %1</translation>
    </message>
</context>
<context>
    <name>accrue::till::TillSession</name>
    <message>
        <source>Enter the number of points to redeem.</source>
        <translation>Anzahl der einzulösenden Punkte eingeben.</translation>
    </message>
    <message>
        <source>The customer has to accept the programme&apos;s terms.</source>
        <translation>Der Kunde muss die Teilnahmebedingungen akzeptieren.</translation>
    </message>
    <message>
        <source>Enter a card number, a phone number or an e-mail address.</source>
        <translation>Kartennummer, Telefonnummer oder E-Mail-Adresse eingeben.</translation>
    </message>
    <message>
        <source>The loyalty service refused the request.</source>
        <translation>Der Treuedienst hat die Anfrage abgelehnt.</translation>
    </message>
    <message numerus="yes">
        <source>Not enough points: %1 available.</source>
        <translation>
            <numerusform>Nicht genug Punkte: %1 verfügbar.</numerusform>
            <numerusform>Nicht genug Punkte: %1 verfügbar.</numerusform>
        </translation>
    </message>
    <message>
        <source>No member with this card: nothing to redeem.</source>
        <translation>Kein Mitglied mit dieser Karte: nichts einzulösen.</translation>
    </message>
    <message>
        <source>This member is blocked: points cannot be redeemed.</source>
        <translation>Dieses Mitglied ist gesperrt: Punkte können nicht eingelöst werden.</translation>
    </message>
    <message numerus="yes">
        <source>Redeem at least %1 points.</source>
        <translation>
            <numerusform>Mindestens %1 Punkt einlösen.</numerusform>
            <numerusform>Mindestens %1 Punkte einlösen.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>Redeem at most %1 points at once.</source>
        <translation>
            <numerusform>Höchstens %1 Punkt auf einmal einlösen.</numerusform>
            <numerusform>Höchstens %1 Punkte auf einmal einlösen.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>Redeem in steps of %1 points.</source>
        <translation>
            <numerusform>In Schritten von %1 Punkt einlösen.</numerusform>
            <numerusform>In Schritten von %1 Punkten einlösen.</numerusform>
        </translation>
    </message>
    <message>
        <source>Points cannot be redeemed in %1.</source>
        <translation>Punkte können nicht in %1 eingelöst werden.</translation>
    </message>
    <message>
        <source>The loyalty service did not answer, and the store&apos;s offline rules do not allow this redemption. No points were redeemed.</source>
        <translation>Der Treuedienst hat nicht geantwortet, und die Offline-Regeln der Filiale erlauben diese Einlösung nicht. Es wurden keine Punkte eingelöst.</translation>
    </message>
    <message>
        <source>Points cannot be redeemed while the store is offline.</source>
        <translation>Punkte können nicht eingelöst werden, solange die Filiale offline ist.</translation>
    </message>
    <message>
        <source>Points cannot be redeemed offline: this store has not synced yet.</source>
        <translation>Offline keine Einlösung möglich: Diese Filiale hat noch nie synchronisiert.</translation>
    </message>
    <message numerus="yes">
        <source>Points cannot be redeemed offline: the store has been offline for more than %n hours.</source>
        <translation>
            <numerusform>Offline keine Einlösung möglich: Die Filiale ist seit mehr als %n Stunde offline.</numerusform>
            <numerusform>Offline keine Einlösung möglich: Die Filiale ist seit mehr als %n Stunden offline.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>While offline, at most %1 points can be redeemed at once.</source>
        <translation>
            <numerusform>Offline kann höchstens %1 Punkt auf einmal eingelöst werden.</numerusform>
            <numerusform>Offline können höchstens %1 Punkte auf einmal eingelöst werden.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>While offline, this member can redeem %1 more points today.</source>
        <translation>
            <numerusform>Offline kann dieses Mitglied heute noch %1 Punkt einlösen.</numerusform>
            <numerusform>Offline kann dieses Mitglied heute noch %1 Punkte einlösen.</numerusform>
        </translation>
    </message>
    <message>
        <source>The store&apos;s offline redemption limit is reached: try again when online.</source>
        <translation>Das Offline-Einlöselimit der Filiale ist erreicht: bitte wieder versuchen, wenn die Filiale online ist.</translation>
    </message>
    <message>
        <source>Redemption %1 is not on this till: it cannot pay for this sale.</source>
        <translation>Einlösung %1 ist nicht an dieser Kasse: Sie kann diesen Verkauf nicht bezahlen.</translation>
    </message>
    <message>
        <source>Redemption %1 was made for another member.</source>
        <translation>Einlösung %1 gehört zu einem anderen Mitglied.</translation>
    </message>
    <message>
        <source>Redemption %1 already paid for another sale.</source>
        <translation>Einlösung %1 hat bereits einen anderen Verkauf bezahlt.</translation>
    </message>
    <message>
        <source>This member is blocked: no points can be earned.</source>
        <translation>Dieses Mitglied ist gesperrt: Es können keine Punkte gesammelt werden.</translation>
    </message>
    <message>
        <source>The programme gives no points for sales in %1.</source>
        <translation>Das Programm vergibt keine Punkte für Verkäufe in %1.</translation>
    </message>
    <message>
        <source>Line %1: %2 returned, only %3 left to return.</source>
        <translation>Position %1: %2 zurückgegeben, nur noch %3 rückgabefähig.</translation>
    </message>
    <message>
        <source>This return cannot be made.</source>
        <translation>Diese Rückgabe ist nicht möglich.</translation>
    </message>
    <message>
        <source>This is not a coupon code; check it and try again.</source>
        <translation>Das ist kein Gutscheincode; bitte prüfen und erneut versuchen.</translation>
    </message>
    <message>
        <source>This coupon cannot be checked at this store yet; try again when online.</source>
        <translation>Dieser Gutschein kann in dieser Filiale noch nicht geprüft werden; bitte erneut versuchen, wenn die Filiale online ist.</translation>
    </message>
    <message>
        <source>This coupon is not valid.</source>
        <translation>Dieser Gutschein ist nicht gültig.</translation>
    </message>
    <message>
        <source>This coupon has expired.</source>
        <translation>Dieser Gutschein ist abgelaufen.</translation>
    </message>
    <message>
        <source>This coupon expired on %1.</source>
        <translation>Dieser Gutschein ist am %1 abgelaufen.</translation>
    </message>
    <message>
        <source>This coupon has already been used or was cancelled.</source>
        <translation>Dieser Gutschein wurde bereits eingelöst oder storniert.</translation>
    </message>
    <message>
        <source>This coupon has already been used in this store.</source>
        <translation>Dieser Gutschein wurde in dieser Filiale bereits eingelöst.</translation>
    </message>
    <message>
        <source>This coupon&apos;s reward is not in the programme this store runs yet.</source>
        <translation>Die Prämie dieses Gutscheins ist im Programm dieser Filiale noch nicht enthalten.</translation>
    </message>
    <message>
        <source>This coupon belongs to a member: identify the member first.</source>
        <translation>Dieser Gutschein gehört einem Mitglied: zuerst das Mitglied identifizieren.</translation>
    </message>
    <message>
        <source>This coupon belongs to another member.</source>
        <translation>Dieser Gutschein gehört einem anderen Mitglied.</translation>
    </message>
    <message>
        <source>This member is blocked: coupons cannot be used.</source>
        <translation>Dieses Mitglied ist gesperrt: Gutscheine können nicht eingelöst werden.</translation>
    </message>
    <message>
        <source>This coupon cannot be used in %1.</source>
        <translation>Dieser Gutschein kann nicht in %1 eingelöst werden.</translation>
    </message>
    <message>
        <source>The basket has none of the items this coupon makes free.</source>
        <translation>Der Warenkorb enthält keinen der Artikel, die dieser Gutschein gratis macht.</translation>
    </message>
    <message>
        <source>This coupon was taken off the sale already.</source>
        <translation>Dieser Gutschein wurde bereits aus dem Verkauf genommen.</translation>
    </message>
    <message>
        <source>This store cannot accept more coupons until it is back online.</source>
        <translation>Diese Filiale kann keine weiteren Gutscheine annehmen, bis sie wieder online ist.</translation>
    </message>
    <message>
        <source>Scan or type the coupon&apos;s code.</source>
        <translation>Gutscheincode scannen oder eintippen.</translation>
    </message>
    <message>
        <source>Scan the items first: a coupon applies to a basket.</source>
        <translation>Zuerst die Artikel scannen: ein Gutschein gilt für einen Warenkorb.</translation>
    </message>
    <message>
        <source>This coupon needs a basket of at least %1.</source>
        <translation>Dieser Gutschein gilt ab einem Warenkorb von %1.</translation>
    </message>
    <message>
        <source>This reward cannot be claimed yet.</source>
        <translation>Diese Prämie kann noch nicht eingelöst werden.</translation>
    </message>
    <message>
        <source>This reward can no longer be claimed.</source>
        <translation>Diese Prämie kann nicht mehr eingelöst werden.</translation>
    </message>
    <message>
        <source>This reward is for members of another tier.</source>
        <translation>Diese Prämie gilt für Mitglieder einer anderen Stufe.</translation>
    </message>
    <message>
        <source>This reward is not offered to this member.</source>
        <translation>Diese Prämie wird diesem Mitglied nicht angeboten.</translation>
    </message>
    <message numerus="yes">
        <source>This reward can be claimed %n time(s) per member.</source>
        <translation>
            <numerusform>Diese Prämie kann %n Mal pro Mitglied eingelöst werden.</numerusform>
            <numerusform>Diese Prämie kann %n Mal pro Mitglied eingelöst werden.</numerusform>
        </translation>
    </message>
    <message>
        <source>This reward is out of stock.</source>
        <translation>Diese Prämie ist vergriffen.</translation>
    </message>
    <message>
        <source>No member with this card: there are no rewards to show.</source>
        <translation>Kein Mitglied mit dieser Karte: keine Prämien vorhanden.</translation>
    </message>
    <message>
        <source>This member is blocked: rewards cannot be claimed.</source>
        <translation>Dieses Mitglied ist gesperrt: Prämien können nicht eingelöst werden.</translation>
    </message>
    <message>
        <source>This reward is not in the programme this store runs.</source>
        <translation>Diese Prämie gibt es im Programm dieser Filiale nicht.</translation>
    </message>
    <message>
        <source>The loyalty service did not answer. Claim it again: nothing is claimed twice.</source>
        <translation>Der Treuedienst hat nicht geantwortet. Bitte erneut einlösen: nichts wird doppelt eingelöst.</translation>
    </message>
    <message>
        <source>This reward can be claimed only while the store is online.</source>
        <translation>Diese Prämie kann nur eingelöst werden, solange die Filiale online ist.</translation>
    </message>
    <message>
        <source>This store cannot issue more rewards until it is back online.</source>
        <translation>Diese Filiale kann keine weiteren Prämien ausgeben, bis sie wieder online ist.</translation>
    </message>
    <message>
        <source>Identify the member first: a reward is claimed for her.</source>
        <translation>Zuerst das Mitglied erkennen: Eine Prämie wird für sie eingelöst.</translation>
    </message>
    <message>
        <source>This claim was given up when the loyalty service did not answer. If it was booked, the coupon is in her app; claim again to try anew.</source>
        <translation>Diese Einlösung wurde aufgegeben, weil der Treuedienst nicht antwortete. Falls sie gebucht wurde, ist der Gutschein in ihrer App; für einen neuen Versuch erneut einlösen.</translation>
    </message>
</context>
</TS>
